"""The hall's statistics (综合评价 / 考核): figures over the cases and their history, per period and group."""

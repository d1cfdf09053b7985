"""Real peers the tests talk to over loopback where no real device can be had on this machine."""

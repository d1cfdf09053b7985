"""label details: a rejection's kind and the objects an operator labelled (class, corrected and drawn boxes)

Revision ID: 0016_label_details
Revises: 0015_model_promotions

Issue 15 item 2: confirming, an operator may give the object's class, correct the detector's box or draw another;
rejecting, say whether the object is not there (``absent``), there but allowed (``allowed``) or another class
(``wrong_class``). ``labels.kind`` holds the latter, ``labels.objects`` the former (0–1 of the clean frame:
wall/cases/labelling.py), so ``citywall dataset export`` can use them. Rejections stored before this migration
get the kind their built-in reason says (the table as of this revision, not the code's, so the migration means
the same thing later); a site's own reason stays without one (the export's ``--negative-reasons`` decides).
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_label_details"
down_revision = "0015_model_promotions"
branch_labels = None
depends_on = None

KINDS = {
    "absent": ("potted_plants", "fixed_object", "bin_not_overflowing", "false_detection"),
    "allowed": ("licensed_stall", "abandoned_stall", "inside_shop", "vendor_walking"),
}


def upgrade() -> None:
    op.add_column("labels", sa.Column("kind", sa.String(16), nullable=True))
    op.add_column("labels", sa.Column("objects", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    labels = sa.table("labels", sa.column("decision", sa.String), sa.column("reason", sa.String),
                      sa.column("kind", sa.String))
    for kind, reasons in KINDS.items():
        op.execute(labels.update().where(labels.c.decision == "rejected", labels.c.reason.in_(reasons))
                   .values(kind=kind))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35, like 0009): a batch copy of ``labels`` is not needed
    op.drop_column("labels", "objects")
    op.drop_column("labels", "kind")

"""cases: the genuine-card checks of the card read (chip, card chain, JPKI chain, genuine)

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-03 10:00:00

No personal data: whether the chip signed our challenge, and the result of each chain to a
trust anchor (``cardreader.model.Genuine`` values). Cases opened before this revision were
not recorded: ``card_chip_authenticated`` NULL, the chains ``not_checked``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINS = ("card_chain", "card_jpki_chain", "card_genuine")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("card_chip_authenticated", sa.Boolean(), nullable=True))
        for name in CHAINS:
            batch.add_column(
                sa.Column(name, sa.String(length=24), nullable=False, server_default="not_checked")
            )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for name in reversed(CHAINS):
            batch.drop_column(name)
        batch.drop_column("card_chip_authenticated")

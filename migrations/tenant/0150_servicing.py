"""Servicing: general ledger, loan accounts with schedule versions and transactions, COB state, classification.

Revision ID: t0150
Revises: t0140
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "t0150"
down_revision = "t0140"
branch_labels = None
depends_on = None

# Kept literally here (migrations are history); tests/test_migrations.py checks they equal the models' DDL.
LINES_BALANCED_FUNCTION = """\
CREATE OR REPLACE FUNCTION ledger_lines_balanced() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    bad bigint;
BEGIN
    SELECT entry_id INTO bad FROM new_lines GROUP BY entry_id
    HAVING sum(debit) <> sum(credit) LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING
            MESSAGE = 'unbalanced journal entry ' || bad || ': debits and credits differ',
            ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$body$"""

ENTRY_COMPLETE_FUNCTION = """\
CREATE OR REPLACE FUNCTION ledger_entry_complete() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    n bigint;
    diff numeric;
BEGIN
    EXECUTE 'SELECT count(*), coalesce(sum(debit - credit), 0) FROM ' || quote_ident(TG_TABLE_SCHEMA)
            || '.journal_line WHERE entry_id = $1' INTO n, diff USING NEW.id;
    IF n = 0 OR diff <> 0 THEN
        RAISE EXCEPTION USING
            MESSAGE = 'journal entry ' || NEW.id || ' has no lines or does not balance at commit',
            ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$body$"""

APPEND_ONLY_FUNCTION = """\
CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'the ledger is append-only (post a reversing entry): ' || TG_OP || ' on ' || TG_TABLE_NAME
                  || ' refused',
        ERRCODE = 'insufficient_privilege';
END
$body$"""


def upgrade() -> None:
    op.create_table('gl_account',
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('normal', sa.String(length=1), nullable=False),
    sa.CheckConstraint("kind IN ('asset', 'liability', 'income', 'expense', 'off_balance')", name=op.f('ck_gl_account_kind')),
    sa.CheckConstraint("normal IN ('D', 'C')", name=op.f('ck_gl_account_normal')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_gl_account'))
    )
    op.create_table('loan_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('retail', sa.Boolean(), nullable=False),
    sa.Column('principal_amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('credit_limit', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('annual_rate', sa.Numeric(precision=12, scale=8), nullable=False),
    sa.Column('penalty_rate', sa.Numeric(precision=12, scale=8), nullable=False),
    sa.Column('day_count', sa.Integer(), nullable=False),
    sa.Column('grace_days', sa.Integer(), nullable=False),
    sa.Column('allocation_order', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('disbursed_on', sa.Date(), nullable=False),
    sa.Column('maturity_date', sa.Date(), nullable=False),
    sa.Column('schedule_version', sa.Integer(), nullable=False),
    sa.Column('principal_outstanding', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_receivable', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('penalty_receivable', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_suspended', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('non_accrual', sa.Boolean(), nullable=False),
    sa.Column('risk_class', sa.String(length=20), nullable=False),
    sa.Column('class_floor', sa.String(length=20), nullable=True),
    sa.Column('restructured_on', sa.Date(), nullable=True),
    sa.Column('npl_at_restructuring', sa.Boolean(), nullable=False),
    sa.Column('observation_until', sa.Date(), nullable=True),
    sa.Column('settled_on', sa.Date(), nullable=True),
    sa.Column('row_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind = 'term' OR principal_outstanding <= credit_limit", name=op.f('ck_loan_account_within_limit')),
    sa.CheckConstraint("kind IN ('term', 'revolving')", name=op.f('ck_loan_account_kind')),
    sa.CheckConstraint("state IN ('active', 'overdue', 'restructured', 'settled', 'in_litigation', 'written_off')", name=op.f('ck_loan_account_state')),
    sa.CheckConstraint('day_count IN (360, 365)', name=op.f('ck_loan_account_day_count')),
    sa.CheckConstraint('principal_outstanding >= 0 AND penalty_receivable >= 0 AND interest_receivable >= 0 AND interest_suspended >= 0', name=op.f('ck_loan_account_balances_not_negative')),
    sa.ForeignKeyConstraint(['application_id'], ['loan_application.id'], name=op.f('fk_loan_account_application_id_loan_application')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_loan_account_customer_id_customer')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_loan_account_product_id_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_account')),
    sa.UniqueConstraint('reference', name=op.f('uq_loan_account_reference'))
    )
    op.create_index(op.f('ix_loan_account_customer_id'), 'loan_account', ['customer_id'], unique=False)
    op.create_index('ix_loan_account_open', 'loan_account', ['id'], unique=False, postgresql_where=sa.text("state NOT IN ('settled', 'written_off')"))
    op.create_table('journal_entry',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=True),
    sa.Column('reverses_id', sa.BigInteger(), nullable=True),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_journal_entry_loan_id_loan_account')),
    sa.ForeignKeyConstraint(['reverses_id'], ['journal_entry.id'], name=op.f('fk_journal_entry_reverses_id_journal_entry')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entry')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_journal_entry_reverses_id'))
    )
    op.create_index(op.f('ix_journal_entry_business_date'), 'journal_entry', ['business_date'], unique=False)
    op.create_index(op.f('ix_journal_entry_loan_id'), 'journal_entry', ['loan_id'], unique=False)
    op.create_table('journal_line',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('account_code', sa.String(length=20), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=True),
    sa.Column('debit', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('credit', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.CheckConstraint('debit >= 0 AND credit >= 0 AND (debit = 0) <> (credit = 0)', name=op.f('ck_journal_line_one_side')),
    sa.ForeignKeyConstraint(['account_code'], ['gl_account.code'], name=op.f('fk_journal_line_account_code_gl_account')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entry.id'], name=op.f('fk_journal_line_entry_id_journal_entry')),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_journal_line_loan_id_loan_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_line'))
    )
    op.create_index(op.f('ix_journal_line_entry_id'), 'journal_line', ['entry_id'], unique=False)
    op.create_index('ix_journal_line_loan_id_account_code', 'journal_line', ['loan_id', 'account_code'], unique=False)
    op.create_table('loan_schedule_version',
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_loan_schedule_version_loan_id_loan_account')),
    sa.PrimaryKeyConstraint('loan_id', 'version', name=op.f('pk_loan_schedule_version'))
    )
    op.create_table('loan_installment',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('principal_due', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_due', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_accrued', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('principal_paid', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_paid', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.CheckConstraint("status IN ('due', 'partial', 'overdue', 'paid', 'waived', 'superseded')", name=op.f('ck_loan_installment_status')),
    sa.CheckConstraint('interest_paid >= 0 AND interest_paid <= interest_accrued AND interest_accrued <= interest_due', name=op.f('ck_loan_installment_interest_paid')),
    sa.CheckConstraint('principal_paid >= 0 AND principal_paid <= principal_due', name=op.f('ck_loan_installment_principal_paid')),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_loan_installment_loan_id_loan_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_installment')),
    sa.UniqueConstraint('loan_id', 'version', 'seq', name=op.f('uq_loan_installment_loan_id_version_seq')),
    postgresql_with={'fillfactor': 80}
    )
    op.create_index('ix_loan_installment_falling_due', 'loan_installment', ['due_date'], unique=False, postgresql_where=sa.text("status IN ('due', 'partial')"))
    op.create_index('ix_loan_installment_overdue', 'loan_installment', ['loan_id', 'due_date'], unique=False, postgresql_where=sa.text("status = 'overdue'"))
    op.create_index('ix_loan_installment_period', 'loan_installment', [sa.literal_column("daterange(start_date, due_date, '(]')")], unique=False, postgresql_using='gist', postgresql_where=sa.text("status IN ('due', 'partial', 'overdue')"))
    op.create_table('loan_transaction',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('penalty', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('reverses_id', sa.BigInteger(), nullable=True),
    sa.Column('reversed', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('disbursement', 'draw', 'repayment', 'payoff', 'waiver', 'reversal', 'write_off')", name=op.f('ck_loan_transaction_kind')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_loan_transaction_amount')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entry.id'], name=op.f('fk_loan_transaction_entry_id_journal_entry')),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_loan_transaction_loan_id_loan_account')),
    sa.ForeignKeyConstraint(['reverses_id'], ['loan_transaction.id'], name=op.f('fk_loan_transaction_reverses_id_loan_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_transaction')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_loan_transaction_idempotency_key')),
    sa.UniqueConstraint('reverses_id', name=op.f('uq_loan_transaction_reverses_id'))
    )
    op.create_index(op.f('ix_loan_transaction_loan_id'), 'loan_transaction', ['loan_id'], unique=False)
    op.create_table('loan_allocation',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('installment_id', sa.BigInteger(), nullable=True),
    sa.Column('principal', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_suspended', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('interest_accelerated', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.Column('penalty', sa.Numeric(precision=20, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['installment_id'], ['loan_installment.id'], name=op.f('fk_loan_allocation_installment_id_loan_installment')),
    sa.ForeignKeyConstraint(['transaction_id'], ['loan_transaction.id'], name=op.f('fk_loan_allocation_transaction_id_loan_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_allocation'))
    )
    op.create_index(op.f('ix_loan_allocation_transaction_id'), 'loan_allocation', ['transaction_id'], unique=False)
    op.create_table('loan_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=False),
    sa.Column('to_state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_loan_event_loan_id_loan_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_event'))
    )
    op.create_index(op.f('ix_loan_event_loan_id'), 'loan_event', ['loan_id'], unique=False)
    op.create_table('cob_state',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_cob_state_singleton')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cob_state'))
    )
    op.create_table('cob_step',
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('step', sa.String(length=30), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('millis', sa.Integer(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('business_date', 'step', name=op.f('pk_cob_step'))
    )
    op.create_table('classification_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('from_class', sa.String(length=20), nullable=False),
    sa.Column('to_class', sa.String(length=20), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('trigger', sa.String(length=30), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('proposed_by', sa.String(length=100), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("direction IN ('downgrade', 'upgrade')", name=op.f('ck_classification_event_direction')),
    sa.CheckConstraint("from_class IN ('normal', 'special_mention', 'substandard', 'doubtful', 'loss') AND to_class IN ('normal', 'special_mention', 'substandard', 'doubtful', 'loss')", name=op.f('ck_classification_event_classes')),
    sa.CheckConstraint("status IN ('proposed', 'confirmed', 'rejected')", name=op.f('ck_classification_event_status')),
    sa.ForeignKeyConstraint(['loan_id'], ['loan_account.id'], name=op.f('fk_classification_event_loan_id_loan_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classification_event'))
    )
    op.create_index(op.f('ix_classification_event_loan_id'), 'classification_event', ['loan_id'], unique=False)
    op.create_index('uq_classification_event_open', 'classification_event', ['loan_id'], unique=True, postgresql_where=sa.text("status = 'proposed'"))
    # ### end Alembic commands ###

    op.execute(LINES_BALANCED_FUNCTION)
    op.execute(ENTRY_COMPLETE_FUNCTION)
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute("CREATE TRIGGER journal_line_balanced AFTER INSERT ON journal_line REFERENCING NEW TABLE AS new_lines "
               "FOR EACH STATEMENT EXECUTE FUNCTION ledger_lines_balanced()")
    op.execute("CREATE CONSTRAINT TRIGGER journal_entry_complete AFTER INSERT ON journal_entry "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_complete()")
    for table in ("journal_entry", "journal_line"):
        op.execute(f"CREATE TRIGGER {table}_refuse_changes BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()")
        op.execute(f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()")


def downgrade() -> None:
    for table in ("classification_event", "cob_step", "cob_state", "loan_event", "loan_allocation",
                  "loan_transaction", "loan_installment", "loan_schedule_version", "journal_line", "journal_entry",
                  "loan_account", "gl_account"):
        op.drop_table(table)
    for function in ("ledger_lines_balanced", "ledger_entry_complete", "ledger_append_only"):
        op.execute(f"DROP FUNCTION {function}()")

"""What the database itself guarantees about the ledger, whatever the Python code does.

* Transactions, postings, earnings, rule versions and seals are append-only (UPDATE, DELETE and,
  on PostgreSQL, TRUNCATE refused).
* Every inserted posting is applied to the cached balances of both its accounts, in the same
  transaction, and only between accounts of the posting's own asset; the accounts' CHECK
  constraint then refuses to overdraw an ordinary account.
* PostgreSQL: a deferred constraint trigger checks at commit that every transaction has postings
  and balances per asset; another trigger stamps each transaction with its transaction id, the
  order of the hash chain.
"""

from typing import Any

from django.db import migrations

from zhiyuan.core.db import append_only_operations

APPEND_ONLY = [
    "ledger_transaction",
    "ledger_posting",
    "ledger_earning",
    "ledger_earningruleset",
    "ledger_seal",
]

PG_FORWARD = """
CREATE FUNCTION ledger_posting_apply() RETURNS trigger AS $$
DECLARE
    n integer;
BEGIN
    UPDATE ledger_account SET balance = balance - NEW.amount
        WHERE id = NEW.debit_id AND asset = NEW.asset;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'ledger: posting of % from an account of another asset', NEW.asset
            USING ERRCODE = 'check_violation';
    END IF;
    UPDATE ledger_account SET balance = balance + NEW.amount
        WHERE id = NEW.credit_id AND asset = NEW.asset;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION 'ledger: posting of % to an account of another asset', NEW.asset
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_posting_apply AFTER INSERT ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_apply();

CREATE FUNCTION ledger_transaction_stamp() RETURNS trigger AS $$
BEGIN
    NEW.xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_transaction_stamp BEFORE INSERT ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_stamp();

CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger AS $$
DECLARE
    legs integer;
    unbalanced integer;
BEGIN
    SELECT count(*) INTO legs FROM ledger_posting WHERE transaction_id = NEW.id;
    IF legs = 0 THEN
        RAISE EXCEPTION 'ledger: transaction % has no postings', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    -- Zero-sum per asset, from the accounts' own assets: what leaves accounts of an asset
    -- enters accounts of the same asset.
    SELECT count(*) INTO unbalanced FROM (
        SELECT asset FROM (
            SELECT a.asset, -p.amount AS delta FROM ledger_posting p
                JOIN ledger_account a ON a.id = p.debit_id WHERE p.transaction_id = NEW.id
            UNION ALL
            SELECT a.asset, p.amount FROM ledger_posting p
                JOIN ledger_account a ON a.id = p.credit_id WHERE p.transaction_id = NEW.id
        ) moves GROUP BY asset HAVING sum(delta) <> 0
    ) bad;
    IF unbalanced > 0 THEN
        RAISE EXCEPTION 'ledger: transaction % does not balance', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced AFTER INSERT ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balanced();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;
DROP FUNCTION IF EXISTS ledger_transaction_balanced();
DROP TRIGGER IF EXISTS ledger_transaction_stamp ON ledger_transaction;
DROP FUNCTION IF EXISTS ledger_transaction_stamp();
DROP TRIGGER IF EXISTS ledger_posting_apply ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_posting_apply();
"""

SQLITE_FORWARD = """
CREATE TRIGGER ledger_posting_apply AFTER INSERT ON ledger_posting BEGIN
    SELECT RAISE(ABORT, 'ledger: posting between accounts of another asset')
        WHERE (SELECT count(*) FROM ledger_account
               WHERE id IN (NEW.debit_id, NEW.credit_id) AND asset = NEW.asset) <> 2;
    UPDATE ledger_account SET balance = balance - NEW.amount WHERE id = NEW.debit_id;
    UPDATE ledger_account SET balance = balance + NEW.amount WHERE id = NEW.credit_id;
END;
"""

SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS ledger_posting_apply;"


def forward(apps: Any, schema_editor: Any) -> None:
    for table in APPEND_ONLY:
        append_only_operations(table)[0](apps, schema_editor)
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def backward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD)
    for table in APPEND_ONLY:
        append_only_operations(table)[1](apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]

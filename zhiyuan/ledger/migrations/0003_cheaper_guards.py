"""The same database guards in fewer statements (issue 6, write throughput).

* ``ledger_posting_apply`` applies a posting to both its accounts with one UPDATE instead of two
  (and refuses it, as before, unless both accounts hold the posting's asset). The accounts are
  updated in primary-key order (an index scan of ``id IN (…)``), the order the services lock in.
* ``ledger_transaction_balanced`` checks at commit, in one query instead of two, that the
  transaction has postings and that every posting moves between two accounts of its own asset.
  That implies what it checked before (every asset sums to zero) and is stricter: two postings
  crossing assets in opposite directions no longer pass.

SQLite keeps its trigger from 0002 (it already does both accounts in one trigger).
"""

from typing import Any

from django.db import migrations

PG_APPLY = """
CREATE OR REPLACE FUNCTION ledger_posting_apply() RETURNS trigger AS $$
DECLARE
    n integer;
BEGIN
    -- debit <> credit is a CHECK on the posting, so both accounts match or the count is short.
    UPDATE ledger_account
        SET balance = balance + CASE WHEN id = NEW.credit_id THEN NEW.amount ELSE -NEW.amount END
        WHERE id IN (NEW.debit_id, NEW.credit_id) AND asset = NEW.asset;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 2 THEN
        RAISE EXCEPTION 'ledger: posting of % between accounts of another asset', NEW.asset
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

PG_BALANCED = """
CREATE OR REPLACE FUNCTION ledger_transaction_balanced() RETURNS trigger AS $$
DECLARE
    legs integer;
    crossing integer;
BEGIN
    -- Every posting moves its amount between two accounts of its own asset, so what leaves
    -- the accounts of an asset enters accounts of the same asset: each asset sums to zero.
    SELECT count(*),
           count(*) FILTER (WHERE d.asset IS DISTINCT FROM p.asset
                               OR c.asset IS DISTINCT FROM p.asset)
        INTO legs, crossing
        FROM ledger_posting p
        LEFT JOIN ledger_account d ON d.id = p.debit_id
        LEFT JOIN ledger_account c ON c.id = p.credit_id
        WHERE p.transaction_id = NEW.id;
    IF legs = 0 THEN
        RAISE EXCEPTION 'ledger: transaction % has no postings', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF crossing > 0 THEN
        RAISE EXCEPTION 'ledger: transaction % does not balance', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

# 0002's bodies, for going back.
PG_APPLY_0002 = """
CREATE OR REPLACE FUNCTION ledger_posting_apply() RETURNS trigger AS $$
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
"""

PG_BALANCED_0002 = """
CREATE OR REPLACE FUNCTION ledger_transaction_balanced() RETURNS trigger AS $$
DECLARE
    legs integer;
    unbalanced integer;
BEGIN
    SELECT count(*) INTO legs FROM ledger_posting WHERE transaction_id = NEW.id;
    IF legs = 0 THEN
        RAISE EXCEPTION 'ledger: transaction % has no postings', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
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
"""


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPLY + PG_BALANCED, None)


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_APPLY_0002 + PG_BALANCED_0002, None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_ledger_guards")]
    operations = [migrations.RunPython(forward, backward)]

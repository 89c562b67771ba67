"""A quick sign-up's writes as one PostgreSQL function, ``activities_signup_take`` (issue 8,
sign-up throughput).

A phone app's sign-up by token reads every fact its eligibility needs in one statement and,
when nothing stands in the way, calls this function in a second: it locks the person (still
active), share-locks the activity (still open for sign-up), looks again (on what committed up
to that moment) for a live sign-up of theirs for the shift or a clashing seat, takes a seat with a conditional UPDATE of the seat counter (or a place on the
waitlist), writes the sign-up, refreshes the token's last use at most every five minutes and
writes the audit entry, whose MAC the caller drafted for either status. Each statement of a
PL/pgSQL function takes a fresh snapshot: that is why this is a function and not one statement
(a statement that waited for the person's lock would still look for clashes in what committed
before it began). Called on its own, the function is one transaction: nothing of it is kept
unless all of it is.

The statuses are written in as literals: ``LIVE``, ``SEAT_HOLDING`` and the published status
of ``activities.models``, checked against the function's text by
tests/activities/test_quick.py (a change of either needs a migration replacing the function).
SQLite has no such function: the quick sign-up is PostgreSQL's only.
"""

from typing import Any

from django.db import migrations

PG_TAKE = """
CREATE OR REPLACE FUNCTION activities_signup_take(
    p_shift bigint, p_user bigint, p_id bigint, p_now timestamptz, p_waitlist boolean,
    p_token bigint, p_touch_before timestamptz, p_audit_at timestamptz, p_audit_ip inet,
    p_audit_action varchar, p_audit_type varchar, p_audit_result varchar,
    p_confirmed_mac varchar, p_waitlisted_mac varchar
) RETURNS TABLE (signup_id bigint, signup_status varchar, entry_id bigint, entry_xid bigint)
LANGUAGE plpgsql AS $$
DECLARE
    seat bigint;
    made varchar;
BEGIN
    -- The person's lock, as the full service takes it (FOR UPDATE there, which waits for this
    -- one): one sign-up of a person at a time. FOR NO KEY UPDATE, so that a transaction that
    -- commits a row referring to the person (a key-share lock) never waits for it. An account
    -- closed meanwhile (``person_erase`` locks it too) is found closed once the lock is had.
    PERFORM 1 FROM accounts_user WHERE id = p_user AND is_active FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The activity, share-locked while it is still open for sign-up and the shift not begun:
    -- cancelling it (FOR UPDATE) waits for this sign-up, and finds it among those to cancel;
    -- a cancelling in progress is waited for, and the activity then found no longer open.
    PERFORM 1 FROM activities_shift sh JOIN activities_activity a ON a.id = sh.activity_id
        WHERE sh.id = p_shift AND a.status = 'published' AND sh.starts_at > p_now
        FOR SHARE OF a;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Looked for again now that the person is locked (a fresh snapshot): a live sign-up for
    -- this shift, or a seat in another shift that overlaps it.
    IF EXISTS (
        SELECT 1 FROM activities_signup s
        WHERE s.shift_id = p_shift AND s.volunteer_id = p_user
          AND s.status IN ('pending', 'confirmed', 'offered', 'waitlisted', 'no_show')
    ) OR EXISTS (
        SELECT 1 FROM activities_signup s
        JOIN activities_shift o ON o.id = s.shift_id
        JOIN activities_shift me ON me.id = p_shift
        WHERE s.volunteer_id = p_user AND s.status IN ('pending', 'confirmed', 'offered')
          AND o.starts_at < me.ends_at AND o.ends_at > me.starts_at AND o.id <> p_shift
    ) THEN
        RETURN;
    END IF;
    -- A seat if one is free: when two take the last one, PostgreSQL re-checks the condition
    -- on the newest row version, so the shift is never over-booked (a CHECK backs it up).
    UPDATE activities_shift SET seats_taken = seats_taken + 1
        WHERE id = p_shift AND seats_taken < capacity
        RETURNING id INTO seat;
    IF seat IS NULL AND NOT p_waitlist THEN
        RETURN;
    END IF;
    made := CASE WHEN seat IS NULL THEN 'waitlisted' ELSE 'confirmed' END;
    INSERT INTO activities_signup (
        id, shift_id, volunteer_id, status, created_at, signed_up_by_id, team_id, decided_at,
        offer_expires_at, cancelled_at, cancel_reason, late_cancel
    ) VALUES (
        p_id, p_shift, p_user, made, p_now, p_user, NULL,
        CASE WHEN seat IS NULL THEN NULL ELSE p_now END, NULL, NULL, '', false
    );
    UPDATE accounts_apitoken SET last_used_at = p_now
        WHERE id = p_token AND (last_used_at IS NULL OR last_used_at < p_touch_before);
    INSERT INTO core_auditevent (
        at, actor_id, ip, action, object_type, object_id, result, detail, mac
    ) VALUES (
        p_audit_at, p_user, p_audit_ip, p_audit_action, p_audit_type, p_id::text,
        p_audit_result, jsonb_build_object('shift', p_shift, 'status', made),
        CASE made WHEN 'confirmed' THEN p_confirmed_mac ELSE p_waitlisted_mac END
    ) RETURNING id, xid INTO entry_id, entry_xid;
    signup_id := p_id;
    signup_status := made;
    RETURN NEXT;
END;
$$;
"""

PG_DROP = """
DROP FUNCTION IF EXISTS activities_signup_take(
    bigint, bigint, bigint, timestamptz, boolean, bigint, timestamptz, timestamptz, inet,
    varchar, varchar, varchar, varchar, varchar
);
"""


def forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_TAKE, None)  # no parameters: $$ and % are PL/pgSQL's


def backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP, None)


class Migration(migrations.Migration):
    dependencies = [
        ("activities", "0004_session_shift_index_in_the_composite"),
        ("accounts", "0005_phone_code_ip_index"),
        ("core", "0005_audit_sealed_batches"),  # the entries' xid, stamped by a trigger
    ]
    operations = [migrations.RunPython(forward, backward)]

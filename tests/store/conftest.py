from tests.ledger.conftest import (  # noqa: F401 — the store's tests share the ledger's fixtures
    admin,
    community,
    family,
    merchant,
    merchant_org,
    reward,
    rules,
    volunteer,
)

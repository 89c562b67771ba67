from django.urls import path

from zhiyuan.ledger import views

app_name = "ledger"
urlpatterns = [
    path("", views.wallet, name="wallet"),
    path("statement/", views.statement, name="statement"),
    path("timebank/", views.timebank, name="timebank"),
    path(
        "timebank/withdrawals/<int:pk>/cancel/", views.withdrawal_cancel, name="withdrawal_cancel"
    ),
    path("timebank/items/", views.timebank_items, name="timebank_items"),
    path("admin/rules/", views.admin_rules, name="admin_rules"),
    path("admin/items/", views.admin_items, name="admin_items"),
    path("admin/items/<int:pk>/", views.admin_item_edit, name="admin_item_edit"),
    path("admin/items/<int:pk>/withdraw/", views.admin_item_withdraw, name="admin_item_withdraw"),
    path("admin/fund/", views.admin_fund, name="admin_fund"),
    path("admin/withdrawals/", views.admin_withdrawals, name="admin_withdrawals"),
    path("admin/report/", views.admin_report, name="admin_report"),
]

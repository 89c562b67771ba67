from django.urls import path

from zhiyuan.store import views

app_name = "store"
urlpatterns = [
    path("", views.rewards, name="rewards"),
    path("vouchers/", views.vouchers, name="vouchers"),
    path("vouchers/<str:code>/", views.voucher, name="voucher"),
    path("vouchers/<str:code>/cancel/", views.voucher_cancel, name="voucher_cancel"),
    path("merchant/", views.merchant_home, name="merchant_home"),
    path("partners/", views.partners, name="partners"),
]

from django.urls import path

from zhiyuan.store import views

app_name = "store"
urlpatterns = [
    path("", views.rewards, name="rewards"),
    path("rewards/<int:pk>/redeem/", views.reward_redeem, name="redeem"),
    path("vouchers/", views.vouchers, name="vouchers"),
    path("vouchers/<str:code>/", views.voucher, name="voucher"),
    path("vouchers/<str:code>/cancel/", views.voucher_cancel, name="voucher_cancel"),
    path("merchant/", views.merchant_home, name="merchant_home"),
    path("partners/", views.partners, name="partners"),
    path("shop/", views.shop_rewards, name="shop_rewards"),
    path("shop/new/", views.shop_reward_new, name="shop_reward_new"),
    path("shop/<int:pk>/", views.shop_reward_edit, name="shop_reward_edit"),
]

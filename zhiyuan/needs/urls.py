from django.urls import path

from zhiyuan.needs import views

app_name = "needs"
urlpatterns = [
    path("", views.need_mine, name="mine"),
    path("new/", views.need_post, name="post"),
    path("timebank/new/", views.need_post_timebank, name="post_timebank"),
    path("<int:pk>/", views.need_detail, name="detail"),
    path("<int:pk>/act/<slug:action>/", views.need_act, name="act"),
    path("<int:pk>/dispatch/", views.need_dispatch, name="dispatch"),
    path("<int:pk>/rate/", views.need_rate, name="rate"),
    path("<int:pk>/photos/<int:photo>/", views.need_photo, name="photo"),
    path("queue/", views.need_queue, name="queue"),
    path("queue/batch/", views.need_batch, name="batch"),
    path("follow-ups/", views.need_followups, name="followups"),
    path("follow-ups/<int:pk>/close/", views.need_followup_close, name="followup_close"),
    path("dashboard/", views.need_dashboard, name="dashboard"),
    path("offers/", views.need_offers, name="offers"),
    path("team/", views.need_team, name="team"),
    path("settings/", views.need_settings, name="settings"),
    path(
        "settings/categories/<int:pk>/retire/", views.need_category_retire, name="category_retire"
    ),
]

from django.urls import path

from zhiyuan.activities import views

app_name = "activities"
urlpatterns = [
    path("", views.activity_browse, name="browse"),
    path("mine/", views.signups_mine, name="mine"),
    path("scan/", views.scan, name="scan"),
    path("<int:activity_id>/", views.activity_detail, name="detail"),
    path("<int:activity_id>/agreement/", views.agreement_accept, name="agreement"),
    path("shifts/<int:shift_id>/signup/", views.signup_create, name="signup"),
    path("shifts/<int:shift_id>/here/", views.checkin_here, name="here"),
    path("signups/<int:signup_id>/cancel/", views.signup_cancel, name="cancel"),
    path("signups/<int:signup_id>/offer/<str:answer>/", views.offer_answer, name="offer"),
    path("manage/", views.manage, name="manage"),
    path("manage/new/", views.activity_new, name="new"),
    path("manage/projects/new/", views.project_new, name="project_new"),
    path("manage/<int:activity_id>/", views.manage_activity, name="manage_activity"),
    path("manage/<int:activity_id>/publish/", views.activity_publish, name="publish"),
    path("manage/<int:activity_id>/cancel/", views.activity_cancel, name="activity_cancel"),
    path(
        "manage/<int:activity_id>/timebank-item/",
        views.activity_timebank_item,
        name="timebank_item",
    ),
    path("manage/shifts/<int:shift_id>/", views.roster, name="roster"),
    path("manage/shifts/<int:shift_id>/live/", views.roster_live, name="live"),
    path("manage/shifts/<int:shift_id>/qr/", views.qr_page, name="qr"),
    path("manage/shifts/<int:shift_id>/qr/code/", views.qr_code, name="qr_code"),
    path(
        "manage/shifts/<int:shift_id>/mark/<int:volunteer_id>/<str:action>/",
        views.roster_mark,
        name="mark",
    ),
    path(
        "manage/signups/<int:signup_id>/<str:decision>/",
        views.signup_decide,
        name="decide",
    ),
]

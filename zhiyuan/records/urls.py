from django.urls import path

from zhiyuan.records import views

app_name = "records"
urlpatterns = [
    path("mine/", views.records_mine, name="mine"),
    path("<int:record_id>/correct/", views.correction_new, name="correct"),
    path("certificates/", views.certificate_issue, name="certificate_issue"),
    path("certificates/<int:certificate_id>/pdf/", views.certificate_pdf, name="certificate_pdf"),
    path("certificates/issued/", views.certificates_issued, name="certificates_issued"),
    path(
        "certificates/<int:certificate_id>/revoke/",
        views.certificate_revoke,
        name="certificate_revoke",
    ),
    path("stars/", views.stars, name="stars"),
    path("rules/", views.rules, name="rules"),
    path("verify/", views.certificate_verify, name="verify_form"),
    path("verify/<str:code>/", views.certificate_verify, name="verify"),
    path("queue/", views.queue, name="queue"),
    path("manual/", views.manual_new, name="manual"),
    path("<int:record_id>/<str:decision>/", views.record_decide, name="decide"),
    path(
        "corrections/<int:correction_id>/<str:decision>/",
        views.correction_decide,
        name="correction_decide",
    ),
    path("flags/", views.flags, name="flags"),
]

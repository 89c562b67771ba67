from django.urls import path

from zhiyuan.organizations import views

app_name = "organizations"
urlpatterns = [
    path("register/", views.organization_register, name="register"),
    path("mine/", views.organization_mine, name="mine"),
    path("verification/", views.verification_queue, name="verification"),
    path("<int:org_id>/", views.organization_detail, name="detail"),
    path("<int:org_id>/edit/", views.organization_edit, name="edit"),
    path("<int:org_id>/certificate/", views.organization_certificate, name="certificate"),
    path(
        "<int:org_id>/certificate/upload/",
        views.organization_certificate_upload,
        name="certificate_upload",
    ),
    path("<int:org_id>/verify/", views.organization_verify, name="verify"),
    path("<int:org_id>/reject/", views.organization_reject, name="reject"),
    path("<int:org_id>/teams/new/", views.team_create, name="team_new"),
    path("<int:org_id>/members/", views.organization_members, name="members"),
    path("<int:org_id>/apply/", views.organization_apply, name="apply"),
    path("<int:org_id>/calls/new/", views.recruitment_call_new, name="call_new"),
    path("calls/<int:call_id>/close/", views.recruitment_call_close, name="call_close"),
    path("requests/<int:request_id>/accept/", views.request_accept, name="request_accept"),
    path("requests/<int:request_id>/decline/", views.request_decline, name="request_decline"),
    path("memberships/<int:membership_id>/leave/", views.membership_leave, name="leave"),
    path("memberships/<int:membership_id>/role/", views.membership_role, name="role"),
]

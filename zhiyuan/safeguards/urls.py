from django.urls import path

from zhiyuan.safeguards import views

app_name = "safeguards"
urlpatterns = [
    # public, no log-in
    path("report/", views.report, name="report"),
    path("report/received/", views.report_received, name="report_received"),
    path("follow/", views.follow, name="follow"),
    path("sanctions/", views.sanctions_public, name="sanctions_public"),
    # organisation admins
    path("organisations/<int:org_id>/insurance/", views.insurance, name="insurance"),
    path(
        "organisations/<int:org_id>/insurance/uncovered/",
        views.insurance_uncovered,
        name="uncovered",
    ),
    path("insurance/<int:policy_id>/", views.policy_detail, name="policy"),
    path("insurance/<int:policy_id>/named/", views.policy_name_volunteer, name="policy_named"),
    path("insurance/<int:policy_id>/cancel/", views.policy_cancel, name="policy_cancel"),
    path("insurance/<int:policy_id>/incidents/", views.incident_new, name="incident_new"),
    path("incidents/<int:incident_id>/claims/", views.claim_new, name="claim_new"),
    path("claims/<int:claim_id>/decide/", views.claim_decide, name="claim_decide"),
    path("organisations/<int:org_id>/agreements/", views.agreements, name="agreements"),
    path("agreements/<int:template_id>/", views.agreement_detail, name="agreement"),
    # volunteers
    path("agreements/versions/<int:version_id>/", views.agreement_accept, name="accept"),
    # region admins
    path("cases/", views.case_queue, name="cases"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/investigate/", views.case_investigate, name="case_investigate"),
    path("cases/<int:case_id>/decide/", views.case_decide, name="case_decide"),
    path("cases/<int:case_id>/note/", views.case_note, name="case_note"),
    path("cases/<int:case_id>/assign/", views.case_assign_me, name="case_assign"),
    path("cases/<int:case_id>/sanction/", views.case_sanction, name="case_sanction"),
    path(
        "cases/<int:case_id>/evidence/<int:evidence_id>/",
        views.case_evidence,
        name="case_evidence",
    ),
    path(
        "organisations/<int:org_id>/sanctions/",
        views.organization_sanctions,
        name="sanction_new_org",
    ),
    path("sanctions/<int:sanction_id>/lift/", views.sanction_lift, name="sanction_lift"),
    path("risk/", views.risk, name="risk"),
]

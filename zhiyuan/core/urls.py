from django.urls import path

from zhiyuan.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("home/resident/", views.home_resident, name="home_resident"),
    path("home/volunteer/", views.home_volunteer, name="home_volunteer"),
    path("home/organisation/", views.home_org_admin, name="home_org_admin"),
    path("home/dispatcher/", views.home_dispatcher, name="home_dispatcher"),
    path("home/region/", views.home_region_admin, name="home_region_admin"),
    path("home/system/", views.home_system_admin, name="home_system_admin"),
    path("home/security/", views.home_security_admin, name="home_security_admin"),
    path("home/audit/", views.home_audit_admin, name="home_audit_admin"),
]

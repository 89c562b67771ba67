from django.urls import path

from zhiyuan.people import views

app_name = "people"
urlpatterns = [
    path("register/", views.register, name="register"),
    path("me/", views.me, name="me"),
    path("me/edit/", views.profile_edit, name="edit"),
    path("me/skills/", views.skills_edit, name="skills"),
    path("me/availability/", views.availability_edit, name="availability"),
    path("me/qualifications/", views.qualifications, name="qualifications"),
    path(
        "me/qualifications/<int:pk>/remove/",
        views.qualification_remove,
        name="qualification_remove",
    ),
    path("me/phone/", views.phone_change, name="phone"),
    path("me/privacy/", views.privacy, name="privacy"),
    path("me/data/", views.my_data, name="data"),
    path("me/close/", views.close_account, name="close"),
    path("guardian/", views.guardian, name="guardian"),
    path("volunteers/", views.volunteer_list, name="volunteers"),
    path("volunteers/<str:number>/", views.volunteer_detail, name="volunteer"),
]

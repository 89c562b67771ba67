"""Organiser pages beside the main activity views (views_extra): team sign-up, attendance."""

from django.urls import path

from zhiyuan.activities import views_extra

app_name = "activities_extra"
urlpatterns = [
    path("teams/", views_extra.team_signup_index, name="teams"),
    path("teams/shifts/<int:shift_id>/", views_extra.team_signup, name="team_signup"),
    path("manage/attendance/", views_extra.attendance, name="attendance"),
]

from django.urls import path

from zhiyuan.matching import views

app_name = "matching"
urlpatterns = [
    path("fill/", views.fill, name="fill"),
    path("autofill/", views.autofill, name="autofill"),
    path("needs/<int:pk>/", views.need_ranking, name="need"),
    path("staffing/", views.staffing_list, name="staffing_list"),
    path("shifts/<int:pk>/", views.staffing, name="staffing"),
]

from django.urls import path

from zhiyuan.regions import views

app_name = "regions"
urlpatterns = [
    path("import/", views.region_import, name="import"),
    path("picker/", views.region_picker, name="picker"),
    path("<str:code>/", views.region_detail, name="detail"),
]

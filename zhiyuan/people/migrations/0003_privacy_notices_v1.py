"""Publish version 1 of the privacy notice and the two separate consents (PIPL Arts. 17, 29, 31).

Registration cannot work without a notice to accept, so the first versions ship with the code.
Later versions are published by the security administrator and never edited.
"""

from django.db import migrations

NOTICES = {
    "privacy": (
        "志愿平台按照《个人信息保护法》和《志愿服务条例》处理您的个人信息。我们收集您的姓名、证件号码、"
        "手机号码、所在社区、技能、可服务时间和服务记录，用于实名注册、匹配志愿服务、记录服务时长和出具证明。"
        "证件号码、手机号码和住址加密存储，页面上默认遮挡显示，查看完整信息的每一次操作都记入审计日志。"
        "未经您同意，我们不向第三方提供您的信息，法律法规另有规定的除外。您可以随时查阅、下载、更正您的信息，"
        "也可以注销账号：注销后个人信息删除，服务记录按规定以志愿者编号保留。",
        "Zhiyuan processes your personal information under the Personal Information Protection Law "
        "and the Volunteer Service Regulations. We collect your name, document number, mobile number, "
        "community, skills, availability and service records to register you under your real name, "
        "match you with service, record your hours and issue certificates. Document numbers, mobile "
        "numbers and addresses are stored encrypted and masked on every page; every time someone "
        "sees them in full it is written to the audit log. We do not give your information to "
        "others without your consent unless the law requires it. You can see, download and correct "
        "your information at any time, and close your account: your personal data is then erased, "
        "and your service records are kept under your volunteer number as the regulations require.",
    ),
    "sensitive_health": (
        "您在需求中填写的健康信息属于敏感个人信息，仅用于安排合适的志愿者提供服务，只有调度员和接单志愿者"
        "可以看到，服务完成后即隐藏。您可以随时撤回同意，撤回后我们不再处理这类信息。",
        "Health details you give in a need are sensitive personal information. They are used only to "
        "send suitable volunteers, are visible only to the dispatcher and the volunteers who take "
        "the need, and are hidden again once it is done. You can withdraw this consent at any time; "
        "we then stop processing such details.",
    ),
    "child_data": (
        "不满十四周岁未成年人的个人信息属于敏感个人信息。作为监护人，您同意平台为孩子参加志愿服务处理其"
        "个人信息，并确认孩子参加的活动适合其年龄。您可以随时撤回同意。",
        "The personal information of a child under 14 is sensitive. As the guardian, you agree that "
        "Zhiyuan processes the child's information for their volunteer service, and confirm that the "
        "activities they join suit their age. You can withdraw this consent at any time.",
    ),
}


def publish(apps, schema_editor):
    PrivacyNotice = apps.get_model("people", "PrivacyNotice")
    for kind, (zh, en) in NOTICES.items():
        PrivacyNotice.objects.get_or_create(kind=kind, version=1, defaults={"text_zh": zh, "text_en": en})


def unpublish(apps, schema_editor):
    apps.get_model("people", "PrivacyNotice").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("people", "0002_identity_qualifications_consent")]
    operations = [migrations.RunPython(publish, unpublish)]

"""The national starting list of need categories (two levels). Regions add their own.

The top level follows the seed article: daily living (衣食住行用), elder and disability help,
health, education, culture and sport, legal aid, emotional support, environment, emergency help.
Each item may name the volunteer skill (people.Skill code) it usually calls for; the ranker
uses it when the resident names no skill.
"""

from __future__ import annotations

# (code, Chinese, English, skill code or "", [(code, Chinese, English, skill code), ...])
SEED: list[tuple[str, str, str, str, list[tuple[str, str, str, str]]]] = [
    (
        "daily_living",
        "生活服务（衣食住行用）",
        "Daily living (clothing, food, housing, transport, things to use)",
        "",
        [
            ("meals", "助餐送餐", "Meals and food delivery", "cooking"),
            ("shopping", "代购代办", "Shopping and errands", ""),
            ("cleaning", "家居清洁", "Cleaning and tidying", "cleaning"),
            ("repairs", "家电维修", "Household repairs", "repair"),
            ("transport", "出行接送", "Getting around", "driving"),
            ("clothing", "衣物缝补换季", "Clothing and laundry", ""),
        ],
    ),
    (
        "elder_disability",
        "助老助残",
        "Elder and disability help",
        "elder-care",
        [
            ("visit", "探访陪伴", "Home visits and company", "elder-care"),
            ("care", "生活照料", "Personal care", "nursing"),
            ("escort", "陪同就医", "Escort to hospital", "elder-care"),
            ("mobility", "助行辅具", "Mobility aids", ""),
            ("digital", "智能手机教学", "Phone and digital help", "it-help"),
            ("sign", "手语沟通", "Sign-language help", "sign-language"),
        ],
    ),
    (
        "health",
        "医疗健康",
        "Health",
        "medical",
        [
            ("advice", "健康咨询", "Health advice and check-ups", "medical"),
            ("medicine", "代取药品", "Fetching medicine", ""),
            ("rehab", "康复护理", "Rehabilitation and nursing", "nursing"),
            ("first_aid", "急救培训", "First-aid training", "first-aid"),
        ],
    ),
    (
        "education",
        "教育辅导",
        "Education",
        "tutoring",
        [
            ("homework", "课业辅导", "Homework help", "tutoring"),
            ("reading", "阅读陪伴", "Reading with children", "tutoring"),
            ("skills", "技能培训", "Skills training", ""),
        ],
    ),
    (
        "culture_sport",
        "文化体育",
        "Culture and sport",
        "culture",
        [
            ("performance", "文艺演出", "Performances", "culture"),
            ("fitness", "健身指导", "Fitness coaching", ""),
            ("events", "社区活动", "Community events", "culture"),
        ],
    ),
    (
        "legal",
        "法律援助",
        "Legal aid",
        "legal",
        [
            ("advice", "法律咨询", "Legal advice", "legal"),
            ("mediation", "矛盾调解", "Dispute mediation", "legal"),
            ("documents", "文书代写", "Help with documents", ""),
        ],
    ),
    (
        "emotional",
        "心理关爱",
        "Emotional support",
        "psych",
        [
            ("talk", "谈心陪伴", "Someone to talk to", "psych"),
            ("counselling", "心理疏导", "Counselling", "psych"),
            ("left_behind", "留守关爱", "Care for people left alone", "psych"),
        ],
    ),
    (
        "environment",
        "环境保护",
        "Environment",
        "environment",
        [
            ("cleanup", "环境整治", "Neighbourhood clean-up", "environment"),
            ("sorting", "垃圾分类", "Waste sorting", "environment"),
            ("greening", "绿化美化", "Greening", "environment"),
        ],
    ),
    (
        "emergency",
        "应急救助",
        "Emergency help",
        "first-aid",
        [
            (
                "sudden_illness",
                "突发疾病（已拨打120）",
                "Sudden illness (after calling 120)",
                "first-aid",
            ),
            ("disaster", "灾害救助", "Disaster relief", ""),
            ("hazard", "安全隐患", "Safety hazard at home", "repair"),
        ],
    ),
]

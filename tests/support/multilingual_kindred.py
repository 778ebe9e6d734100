"""More events reported in English, Russian, Ukrainian and Korean, for the
cross-language tests: each beside another event of the same kind (two missile
launches, two earthquakes), and second English reports from other outlets.

Title + lead, written for this project (not taken from any outlet). With
``multilingual_events.REPORTS`` they make pairs of one kind: the grouping across
languages must join a report to its own event, never to the other of the kind.
"""

from __future__ import annotations

REPORTS: dict[tuple[str, str], str] = {
    ("icbm", "en"): "North Korea test-fires ICBM that lands near Hokkaido, Japan says\n"
    "North Korea launched an intercontinental ballistic missile on Thursday that flew "
    "for 71 minutes before falling into the sea about 200 km west of Hokkaido, Japan's "
    "defence ministry said, calling it the longest flight yet.",
    ("icbm", "ru"): "КНДР испытала МБР, ракета упала у Хоккайдо, сообщает Япония\n"
    "Северная Корея в четверг запустила межконтинентальную баллистическую ракету, "
    "которая летела 71 минуту и упала в море примерно в 200 км к западу от Хоккайдо, "
    "сообщило министерство обороны Японии.",
    ("icbm", "uk"): "КНДР випробувала МБР, ракета впала біля Хоккайдо, повідомляє Японія\n"
    "Північна Корея у четвер запустила міжконтинентальну балістичну ракету, яка "
    "летіла 71 хвилину і впала в море приблизно за 200 км на захід від Хоккайдо, "
    "повідомило міністерство оборони Японії.",
    ("icbm", "ko"): '日 방위성 "북한 ICBM, 홋카이도 서쪽 200㎞ 해상 낙하"\n북한이 목요일 '
    "대륙간탄도미사일(ICBM)을 발사했으며 미사일은 71분간 비행한 뒤 홋카이도 서쪽 약 "
    "200㎞ 해상에 떨어졌다고 일본 방위성이 밝혔다. 역대 최장 비행이다.",
    ("noto", "en"): "Magnitude 7.5 earthquake hits Japan's Noto peninsula, tsunami warning "
    "issued\nA magnitude 7.5 earthquake struck the Noto peninsula in Ishikawa prefecture "
    "on New Year's Day, collapsing houses and setting off fires in Wajima; the Japan "
    "Meteorological Agency issued a major tsunami warning.",
    ("noto", "ru"): "Землетрясение магнитудой 7,5 произошло на полуострове Ното в Японии\n"
    "Землетрясение магнитудой 7,5 произошло в первый день года на полуострове Ното в "
    "префектуре Исикава: в городе Вадзима рухнули дома и начались пожары, объявлена "
    "угроза сильного цунами.",
    ("noto", "uk"): "Землетрус магнітудою 7,5 стався на півострові Ното в Японії\n"
    "Землетрус магнітудою 7,5 стався в перший день року на півострові Ното в префектурі "
    "Ісікава: у місті Вадзіма обвалилися будинки і почалися пожежі, оголошено загрозу "
    "сильного цунамі.",
    ("noto", "ko"): "日 노토반도 규모 7.5 강진…대형 쓰나미 경보\n새해 첫날 이시카와현 "
    "노토반도에서 규모 7.5의 지진이 발생해 와지마시에서 주택이 무너지고 화재가 "
    "잇따랐으며, 일본 기상청은 대형 쓰나미 경보를 발령했다.",
    ("hualien", "en"): "Magnitude 7.4 earthquake strikes Taiwan, buildings collapse in "
    "Hualien\nThe strongest earthquake in 25 years, magnitude 7.4, hit eastern Taiwan on "
    "Wednesday morning, toppling buildings in Hualien and setting off landslides that "
    "trapped workers in a quarry, officials said.",
    ("hualien", "ru"): "Землетрясение магнитудой 7,4 произошло на Тайване, в Хуаляне "
    "рухнули здания\nСильнейшее за 25 лет землетрясение магнитудой 7,4 произошло утром в "
    "среду на востоке Тайваня: в Хуаляне обрушились здания, оползни заблокировали "
    "рабочих в карьере.",
    ("hualien", "uk"): "Землетрус магнітудою 7,4 стався на Тайвані, у Хуаляні обвалилися "
    "будівлі\nНайсильніший за 25 років землетрус магнітудою 7,4 стався вранці в середу "
    "на сході Тайваню: у Хуаляні обвалилися будівлі, зсуви заблокували робітників у "
    "кар'єрі.",
    ("hualien", "ko"): "대만 화롄 규모 7.4 강진…건물 붕괴\n수요일 아침 대만 동부에서 25년 "
    "만의 최대 규모인 7.4의 지진이 발생해 화롄에서 건물이 무너지고 산사태로 채석장 "
    "노동자들이 고립됐다고 당국이 밝혔다.",
}

# Two English reports of each event, from two outlets, title + body: an event's
# cluster usually holds several reports in the language that broke it before a
# report in another language arrives. Full paragraphs (more than ``min_entity_text``)
# so that names and relative fit keep the English events of one kind apart.
ENGLISH: dict[str, tuple[str, str]] = {
    "kursk": (
        "Thousands of North Korean troops now in Kursk, Pentagon says\n"
        "About 8,000 North Korean soldiers have moved into Russia's Kursk region and are "
        "expected to join the fighting against Ukrainian forces in the coming days, the "
        "Pentagon said on Monday. Defense Secretary Lloyd Austin said the troops had been "
        "trained in Russia's Far East and issued Russian uniforms. Sabrina Singh, a "
        "Pentagon spokeswoman, said there was no sign yet that they had entered combat.",
        "Pentagon: some 8,000 North Korean soldiers deployed to Russia's Kursk region\n"
        "Around 8,000 troops from North Korea are now in the Kursk border region and could "
        "enter combat against Ukraine within days, Pentagon spokeswoman Sabrina Singh told "
        "reporters on Monday, raising the estimate given last week. Lloyd Austin said "
        "Washington had warned Moscow that the soldiers would be legitimate targets.",
    ),
    "capture": (
        "Ukraine captures two North Korean soldiers in Kursk\n"
        "Ukrainian special forces have captured two wounded North Korean soldiers in "
        "Russia's Kursk region, President Volodymyr Zelensky said on Saturday. The SBU "
        "security service is questioning the two men, who carried Russian military papers "
        "issued in Tuva. Zelensky posted photographs of the prisoners and said Kyiv was "
        "ready to hand them to Pyongyang in exchange for Ukrainians held in Russia.",
        "Zelensky says Ukrainian forces took two North Korean soldiers prisoner\n"
        "Two North Korean soldiers, both wounded, were taken prisoner by Ukrainian special "
        "forces in the Kursk region and handed to the SBU for questioning, Volodymyr "
        "Zelensky announced on Saturday. One of the men told interrogators through a "
        "Korean interpreter that he had believed he was being sent to a training exercise.",
    ),
    "missile": (
        "North Korea fires ballistic missile into the sea, Seoul says\n"
        "North Korea launched a short-range ballistic missile off its east coast on "
        "Tuesday, South Korea's Joint Chiefs of Staff said, the first launch in two "
        "months. The missile was fired from near Wonsan and flew towards the East Sea, "
        "the JCS said, adding that Seoul and Washington were analysing its flight. "
        "Japan's coast guard warned ships in the area.",
        "North Korea launches short-range ballistic missile off east coast\n"
        "South Korea's military said North Korea fired a short-range ballistic missile "
        "into the waters off its east coast on Tuesday, its first launch in two months. "
        "The Joint Chiefs of Staff said the launch came from the Wonsan area and that the "
        "South had stepped up surveillance in close coordination with the United States.",
    ),
    "icbm": (
        "North Korea test-fires ICBM that lands near Hokkaido, Japan says\n"
        "North Korea launched an intercontinental ballistic missile on Thursday that flew "
        "for 71 minutes before falling into the sea about 200 km west of Hokkaido, Japan's "
        "Ministry of Defense said, calling it the longest flight yet. Prime Minister "
        "Fumio Kishida condemned the launch, and Tokyo lodged a protest through its "
        "embassy in Beijing.",
        "Japan: North Korean ICBM flew 71 minutes, fell west of Hokkaido\n"
        "The intercontinental missile North Korea fired on Thursday stayed aloft for 71 "
        "minutes and came down some 200 km off Hokkaido, inside Japan's exclusive "
        "economic zone, Tokyo said. Fumio Kishida called it an act of violence; the "
        "missile reached an altitude above 6,000 km, the Ministry of Defense said.",
    ),
    "noto": (
        "Magnitude 7.5 earthquake hits Japan's Noto peninsula, tsunami warning issued\n"
        "A magnitude 7.5 earthquake struck the Noto peninsula in Ishikawa prefecture on "
        "New Year's Day, collapsing houses and setting off fires in Wajima, the Japan "
        "Meteorological Agency said, issuing a major tsunami warning for the coast. "
        "Waves of more than one metre reached Wajima port, and Prime Minister Fumio "
        "Kishida said rescuers were racing against time.",
        "Powerful 7.5 quake rocks central Japan, fires rage in Wajima\n"
        "Houses collapsed and a large fire burned in Wajima after a magnitude 7.5 "
        "earthquake hit the Noto peninsula on January 1, prompting Japan's first major "
        "tsunami warning since 2011. Ishikawa governor Hiroshi Hase said roads to the "
        "peninsula were cut, and the Self-Defense Forces sent 1,000 troops.",
    ),
    "hualien": (
        "Magnitude 7.4 earthquake strikes Taiwan, buildings collapse in Hualien\n"
        "The strongest earthquake in 25 years, magnitude 7.4, hit eastern Taiwan on "
        "Wednesday morning, toppling buildings in Hualien and setting off landslides that "
        "trapped workers in a quarry, officials said. The Central Weather Administration "
        "said the quake struck at 7:58 a.m.; President Tsai Ing-wen asked for calm.",
        "Taiwan's strongest quake in 25 years kills at least nine in Hualien\n"
        "A magnitude 7.4 earthquake shook Taiwan on Wednesday, killing at least nine "
        "people and damaging buildings in Hualien county, where rescuers reached workers "
        "trapped in a quarry. Taiwan's Central Weather Administration recorded more than "
        "100 aftershocks; chipmaker TSMC briefly evacuated some plants.",
    ),
}

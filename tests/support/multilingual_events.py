"""Three events of one kind, each reported in English, Russian, Ukrainian and Korean.

Title + lead, written for this project: a deployment, a capture a month later (same
kind, same places) and a missile launch. The semantic signal's tests and
`benchmarks/embed_signal.py` both read them.
"""

from __future__ import annotations

REPORTS: dict[tuple[str, str], str] = {
    ("kursk", "en"): "Thousands of North Korean troops now in Kursk, Pentagon says\n"
    "About 8,000 North Korean soldiers have moved into Russia's Kursk region and are "
    "expected to join the fighting against Ukrainian forces in the coming days, the "
    "Pentagon said on Monday.",
    ("kursk", "ru"): "Пентагон: около 8000 северокорейских военных переброшены в Курскую "
    "область\nОколо восьми тысяч солдат КНДР прибыли в Курскую область России и в "
    "ближайшие дни могут вступить в бои с украинскими войсками, заявили в Пентагоне.",
    ("kursk", "uk"): "Пентагон: близько 8 тисяч північнокорейських військових уже в "
    "Курській області\nБлизько восьми тисяч солдатів КНДР перебувають у Курській "
    "області Росії і найближчими днями можуть вступити в бої проти українських сил.",
    ("kursk", "ko"): '미 국방부 "북한군 약 8천 명 러시아 쿠르스크 지역 배치"\n미국 국방부는 '
    "월요일 북한군 병사 약 8천 명이 러시아 쿠르스크 지역으로 이동했으며 며칠 안에 "
    "우크라이나군과의 전투에 투입될 것으로 보인다고 밝혔다.",
    ("capture", "en"): "Ukraine captures two North Korean soldiers in Kursk\nUkrainian "
    "special forces have captured two wounded North Korean soldiers in Russia's Kursk "
    "region, President Volodymyr Zelensky said on Saturday; the SBU is questioning them.",
    ("capture", "ru"): "Украина взяла в плен двух северокорейских солдат в Курской "
    "области\nУкраинский спецназ захватил в плен двух раненых военных КНДР в Курской "
    "области, сообщил в субботу Владимир Зеленский; их допрашивает СБУ.",
    ("capture", "uk"): "Україна взяла в полон двох північнокорейських солдатів на "
    "Курщині\nУкраїнський спецназ захопив у полон двох поранених військових КНДР у "
    "Курській області, повідомив у суботу Володимир Зеленський; їх допитує СБУ.",
    ("capture", "ko"): "우크라이나, 쿠르스크에서 북한군 2명 생포\n볼로디미르 젤렌스키 "
    "우크라이나 대통령은 토요일 특수부대가 러시아 쿠르스크 지역에서 부상한 북한군 "
    "병사 2명을 생포했으며 보안국이 이들을 조사하고 있다고 밝혔다.",
    ("missile", "en"): "North Korea fires ballistic missile into the sea, Seoul says\n"
    "North Korea launched a short-range ballistic missile off its east coast on Tuesday, "
    "South Korea's Joint Chiefs of Staff said, the first launch in two months.",
    ("missile", "ru"): "КНДР запустила баллистическую ракету в сторону моря, сообщает "
    "Сеул\nСеверная Корея во вторник запустила баллистическую ракету малой дальности у "
    "своего восточного побережья, сообщил Объединенный комитет начальников штабов.",
    ("missile", "uk"): "КНДР запустила балістичну ракету в бік моря, повідомляє Сеул\n"
    "Північна Корея у вівторок запустила балістичну ракету малої дальності біля свого "
    "східного узбережжя, повідомив Об'єднаний комітет начальників штабів Південної Кореї.",
    ("missile", "ko"): '합참 "북한, 동해상으로 단거리 탄도미사일 발사"\n합동참모본부는 북한이 '
    "화요일 동해상으로 단거리 탄도미사일 1발을 발사했다고 밝혔다. 두 달 만의 발사다.",
}

"""Four more events reported in English, Russian, Ukrainian and Korean, each of a kind
already in ``multilingual_events`` / ``multilingual_kindred``: a second deployment
(3,000 more troops), the deployment's casualties (3,000 killed or wounded), a
hypersonic missile launch and a third earthquake (Tibet).

Written for this project (not taken from any outlet), after events that were
reported in these languages, so that the grouping across languages is measured on
more than one event of each kind. The figures are as such reports give them, and
they collide as real ones do: the reinforcements and the casualties are both 3,000;
the Korean report of the launch writes 1,100 km as "1천100㎞"; the Tibet earthquake's
magnitude (7.1) has the digits of the ICBM's 71 minutes; 1,100 is also South
Korea's estimate of the casualties. Title + lead for the other languages, two full
English reports (title + paragraph) per event.
"""

from __future__ import annotations

REPORTS: dict[tuple[str, str], str] = {
    ("reinforce", "ru"): "Разведка Южной Кореи: КНДР отправила в Россию ещё около 3000 "
    "военных\nСеверная Корея с января направила в Россию дополнительно около трёх тысяч "
    "солдат, чтобы восполнить потери в Курской области, сообщила в четверг Национальная "
    "разведывательная служба Южной Кореи.",
    ("reinforce", "uk"): "Розвідка Південної Кореї: КНДР відправила до Росії ще близько "
    "3 тисяч військових\nПівнічна Корея з січня направила до Росії додатково близько "
    "трьох тисяч солдатів, щоб заповнити втрати в Курській області, повідомила в четвер "
    "Національна служба розвідки Південної Кореї.",
    ("reinforce", "ko"): '국정원 "북한, 러시아에 3천 명 추가 파병"\n국가정보원은 목요일 '
    "북한이 1월 이후 쿠르스크 지역의 손실을 메우기 위해 약 3천 명의 병력을 러시아에 "
    "추가로 파견했다고 국회 정보위원회에 보고했다.",
    ("casualties", "ru"): "Зеленский: более 3000 северокорейских военных убиты или "
    "ранены в Курской области\nБолее трёх тысяч солдат КНДР погибли или получили "
    "ранения в боях в Курской области, заявил в понедельник Владимир Зеленский, "
    "ссылаясь на предварительные данные украинских военных.",
    ("casualties", "uk"): "Зеленський: понад 3 тисячі північнокорейських військових "
    "убиті або поранені на Курщині\nПонад три тисячі солдатів КНДР загинули або "
    "отримали поранення в боях у Курській області, заявив у понеділок Володимир "
    "Зеленський, посилаючись на попередні дані українських військових.",
    ("casualties", "ko"): '젤렌스키 "쿠르스크서 북한군 3천 명 이상 사상"\n볼로디미르 '
    "젤렌스키 우크라이나 대통령은 월요일 러시아 쿠르스크 지역 전투에서 북한군 3천 명 "
    "이상이 죽거나 다쳤다고 우크라이나군의 예비 자료를 인용해 밝혔다.",
    ("hypersonic", "ru"): "КНДР запустила гиперзвуковую ракету во время визита Блинкена "
    "в Сеул\nСеверная Корея в понедельник запустила новую гиперзвуковую ракету средней "
    "дальности, которая пролетела около 1100 км и упала в море, сообщил Объединённый "
    "комитет начальников штабов Южной Кореи.",
    ("hypersonic", "uk"): "КНДР запустила гіперзвукову ракету під час візиту Блінкена до "
    "Сеула\nПівнічна Корея в понеділок запустила нову гіперзвукову ракету середньої "
    "дальності, яка пролетіла близько 1100 км і впала в море, повідомив Об'єднаний "
    "комітет начальників штабів Південної Кореї.",
    ("hypersonic", "ko"): '합참 "북한, 극초음속 중거리 미사일 발사…1천100㎞ 비행"\n'
    "합동참모본부는 북한이 월요일 평양 일대에서 동해상으로 극초음속 중거리 탄도미사일 "
    "1발을 발사했으며 미사일은 약 1천100㎞를 비행했다고 밝혔다.",
    ("tibet", "ru"): "Землетрясение магнитудой 7,1 в Тибете унесло жизни не менее 126 "
    "человек\nЗемлетрясение магнитудой 7,1 произошло во вторник утром в уезде Дингри "
    "вблизи Шигадзе в Тибете: погибли по меньшей мере 126 человек, сообщили китайские "
    "государственные СМИ.",
    ("tibet", "uk"): "Землетрус магнітудою 7,1 у Тибеті забрав життя щонайменше 126 "
    "людей\nЗемлетрус магнітудою 7,1 стався у вівторок вранці в повіті Дінгрі поблизу "
    "Шигадзе в Тибеті: загинули щонайменше 126 людей, повідомили китайські державні ЗМІ.",
    ("tibet", "ko"): "티베트 규모 7.1 강진…최소 126명 사망\n화요일 아침 티베트 시가체 인근 "
    "딩리현에서 규모 7.1의 지진이 발생해 최소 126명이 숨졌다고 중국 관영 매체가 "
    "보도했다.",
}

ENGLISH: dict[str, tuple[str, str]] = {
    "reinforce": (
        "North Korea sent about 3,000 more troops to Russia, Seoul's spy agency says\n"
        "North Korea has dispatched around 3,000 additional soldiers to Russia since "
        "January to replace losses in the Kursk region, South Korea's National "
        "Intelligence Service told lawmakers on Thursday. The NIS said the reinforcements "
        "arrived in two rotations and were being trained near the front, and that "
        "Pyongyang had also shipped more artillery shells and short-range missiles.",
        "Seoul: 3,000 extra North Korean soldiers deployed to Russia as reinforcements\n"
        "South Korean intelligence said on Thursday that roughly 3,000 more North Korean "
        "troops had been sent to Russia this year, adding to the 11,000 deployed last "
        "autumn. Lawmaker Lee Seong-kweun, briefed by the National Intelligence Service, "
        "said the new units would help make up for heavy casualties suffered in Kursk.",
    ),
    "casualties": (
        "Zelensky says over 3,000 North Korean soldiers killed or wounded in Kursk\n"
        "More than 3,000 North Korean troops have been killed or wounded in fighting in "
        "Russia's Kursk region, President Volodymyr Zelensky said on Monday, citing "
        "preliminary data from Ukraine's military. He warned that Pyongyang could send "
        "more soldiers and military equipment to Russia, and said Kyiv would respond.",
        "Ukraine: North Korean losses in Kursk top 3,000 dead and wounded\n"
        "North Korea's units fighting for Russia in the Kursk region have suffered more "
        "than 3,000 casualties, killed and wounded, Volodymyr Zelensky said in his "
        "evening address on Monday. South Korea's Joint Chiefs of Staff, in a separate "
        "estimate, put the figure at about 1,100.",
    ),
    "hypersonic": (
        "North Korea fires hypersonic missile as Blinken visits Seoul\n"
        "North Korea launched what it called a new hypersonic intermediate-range missile "
        "on Monday, which flew about 1,100 km before landing in the sea, South Korea's "
        "Joint Chiefs of Staff said. The launch came as U.S. Secretary of State Antony "
        "Blinken was in Seoul for talks; Japan said the missile fell outside its "
        "exclusive economic zone.",
        "Kim Jong Un oversees test of new hypersonic missile, KCNA says\n"
        "North Korean leader Kim Jong Un watched the test of a new intermediate-range "
        "hypersonic missile that flew 1,500 km at 12 times the speed of sound, the state "
        "news agency KCNA said on Tuesday. Seoul's military had put the flight at 1,100 "
        "km and said the North's claims were exaggerated.",
    ),
    "tibet": (
        "Magnitude 7.1 earthquake in Tibet kills at least 126\n"
        "A magnitude 7.1 earthquake struck Dingri county near Shigatse in Tibet on "
        "Tuesday morning, killing at least 126 people and injuring 188, Chinese state "
        "media said. The quake, which the China Earthquake Networks Center measured at "
        "6.8, was felt in Nepal and India, and rescuers searched collapsed homes in "
        "freezing temperatures.",
        "Deadly Tibet quake near Everest flattens homes in Shigatse region\n"
        "At least 126 people died when a powerful earthquake of magnitude 7.1 hit a "
        "remote area of Tibet near Mount Everest on Tuesday, Xinhua said. More than "
        "1,000 houses collapsed in Dingri county; tremors shook Kathmandu, and China "
        "closed the Everest scenic area to tourists.",
    ),
}

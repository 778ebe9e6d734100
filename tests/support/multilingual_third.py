"""A third stream of events reported in English, Russian, Ukrainian and Korean, of
other kinds than the North Korea streams: two ferry disasters, two central-bank
rate decisions, two telecom data breaches (pairs of one kind).

Written for this project (not taken from any outlet), after ``multilingual_more``,
so that a change to the grouping across languages is measured on text it was not
shaped on. Reports of one kind share their vocabulary and their names' kind (a
ship, a central bank, a telecom operator); their figures collide as real ones do
(the Bank of Korea's rate is 3.0 %, the Bank of Japan's 0.5 %: both give 5 or 3
somewhere; 27 and 33.7 million accounts; a toll that rises from one report to the
next). As in the other streams: title + lead for Russian, Ukrainian and Korean,
two full English reports (title + paragraph) per event.
"""

from __future__ import annotations

REPORTS: dict[tuple[str, str], str] = {
    ("sulawesi", "ru"): "У берегов Сулавеси перевернулся паром: не менее 14 погибших\n"
    "Пассажирский паром с более чем 80 людьми на борту перевернулся в среду у острова "
    "Бутон в провинции Юго-Восточный Сулавеси, погибли по меньшей мере 14 человек, "
    "сообщило поисково-спасательное агентство Индонезии.",
    ("sulawesi", "uk"): "Біля Сулавесі перекинувся пором: щонайменше 14 загиблих\n"
    "Пасажирський пором, на борту якого було понад 80 людей, перекинувся в середу біля "
    "острова Бутон у провінції Південно-Східний Сулавесі, загинули щонайменше 14 осіб, "
    "повідомило пошуково-рятувальне агентство Індонезії.",
    ("sulawesi", "ko"): "인도네시아 술라웨시 해상서 여객선 전복…최소 14명 사망\n수요일 "
    "인도네시아 동남술라웨시주 부톤섬 인근 해상에서 80여 명이 탄 여객선이 뒤집혀 최소 "
    "14명이 숨졌다고 인도네시아 수색구조청이 밝혔다.",
    ("meghna", "ru"): "В Бангладеш на реке Мегхна затонул паром, 37 человек погибли\n"
    "Перегруженный паром столкнулся с грузовым судном и затонул в пятницу на реке "
    "Мегхна недалеко от Чандпура; погибли 37 человек, десятки пропали без вести, "
    "сообщила полиция Бангладеш.",
    ("meghna", "uk"): "У Бангладеш на річці Мегхна затонув пором, загинули 37 людей\n"
    "Перевантажений пором зіткнувся з вантажним судном і затонув у п'ятницю на річці "
    "Мегхна поблизу Чандпура; загинули 37 людей, десятки зникли безвісти, повідомила "
    "поліція Бангладеш.",
    ("meghna", "ko"): "방글라데시 메그나강서 여객선 침몰…37명 사망\n금요일 방글라데시 "
    "찬드푸르 인근 메그나강에서 승객을 가득 태운 여객선이 화물선과 충돌해 침몰하면서 "
    "37명이 숨지고 수십 명이 실종됐다고 현지 경찰이 밝혔다.",
    ("bok", "ru"): "Банк Кореи снизил базовую ставку до 3,0%\nБанк Кореи в четверг "
    "снизил базовую процентную ставку на 0,25 процентного пункта, до 3,0%, сославшись "
    "на слабый внутренний спрос и замедление экспорта.",
    ("bok", "uk"): "Банк Кореї знизив базову ставку до 3,0%\nБанк Кореї в четвер "
    "знизив базову процентну ставку на 0,25 процентного пункту, до 3,0%, пославшись на "
    "слабкий внутрішній попит і сповільнення експорту.",
    ("bok", "ko"): "한은, 기준금리 0.25%p 인하…연 3.0%\n한국은행 금융통화위원회는 목요일 "
    "기준금리를 연 3.25%에서 3.0%로 0.25%포인트 내렸다. 내수 부진과 수출 둔화를 "
    "이유로 들었다.",
    ("boj", "ru"): "Банк Японии повысил ставку до 0,5%, максимума за 17 лет\nБанк "
    "Японии в пятницу повысил краткосрочную процентную ставку с 0,25% до 0,5%, самого "
    "высокого уровня за 17 лет, и дал понять, что продолжит ужесточение политики.",
    ("boj", "uk"): "Банк Японії підвищив ставку до 0,5%, максимуму за 17 років\nБанк "
    "Японії в п'ятницю підвищив короткострокову процентну ставку з 0,25% до 0,5%, "
    "найвищого рівня за 17 років, і дав зрозуміти, що продовжить посилення політики.",
    ("boj", "ko"): "日銀, 기준금리 0.5%로 인상…17년 만에 최고\n일본은행은 금요일 "
    "단기 정책금리를 0.25%에서 0.5%로 올렸다. 17년 만의 최고 수준으로, 추가 인상 "
    "가능성도 열어뒀다.",
    ("skt", "ru"): "SK Telecom: хакеры украли данные USIM-карт 27 миллионов "
    "абонентов\nКрупнейший мобильный оператор Южной Кореи SK Telecom признал, что в "
    "результате хакерской атаки утекли данные USIM-карт всех 27 миллионов абонентов, и "
    "пообещал бесплатно заменить карты.",
    ("skt", "uk"): "SK Telecom: хакери викрали дані USIM-карток 27 мільйонів "
    "абонентів\nНайбільший мобільний оператор Південної Кореї SK Telecom визнав, що "
    "внаслідок хакерської атаки витекли дані USIM-карток усіх 27 мільйонів абонентів, "
    "і пообіцяв безкоштовно замінити картки.",
    ("skt", "ko"): "SK텔레콤 해킹으로 가입자 2700만 명 유심 정보 유출\nSK텔레콤은 해킹 "
    "공격으로 전체 가입자 약 2700만 명의 유심(USIM) 정보가 유출됐다고 인정하고 유심을 "
    "무상으로 교체해 주겠다고 밝혔다.",
    ("coupang", "ru"): "Coupang: утечка данных затронула 33,7 млн учётных записей\n"
    "Крупнейший онлайн-ритейлер Южной Кореи Coupang сообщил, что в результате утечки "
    "были раскрыты имена, адреса и телефоны владельцев 33,7 млн учётных записей; "
    "полиция расследует действия бывшего сотрудника.",
    ("coupang", "uk"): "Coupang: витік даних зачепив 33,7 млн облікових записів\n"
    "Найбільший онлайн-рітейлер Південної Кореї Coupang повідомив, що внаслідок витоку "
    "було розкрито імена, адреси й телефони власників 33,7 млн облікових записів; "
    "поліція розслідує дії колишнього працівника.",
    ("coupang", "ko"): "쿠팡 고객 3370만 명 개인정보 유출\n쿠팡은 고객 계정 약 3370만 "
    "개의 이름, 주소, 전화번호가 유출됐다고 밝혔다. 경찰은 퇴사한 직원이 관련됐을 "
    "가능성을 수사하고 있다.",
}

ENGLISH: dict[str, tuple[str, str]] = {
    "sulawesi": (
        "Ferry capsizes off Indonesia's Sulawesi, at least 14 dead\n"
        "A passenger ferry carrying more than 80 people capsized on Wednesday off Buton "
        "island in Southeast Sulawesi province, killing at least 14, Indonesia's search "
        "and rescue agency Basarnas said. Rescuers pulled 40 survivors from the water and "
        "were searching for the missing; the boat was overloaded and sailing in bad "
        "weather, a local police chief said.",
        "Death toll in Buton ferry sinking rises to 19 as search continues\n"
        "Indonesian rescuers recovered five more bodies on Thursday after a wooden ferry "
        "overturned near Buton in Southeast Sulawesi, bringing the toll to 19, Basarnas "
        "said. The vessel's captain survived and was questioned by police; survivors said "
        "the ferry listed sharply in high waves before it went down.",
    ),
    "meghna": (
        "Bangladesh ferry sinks on Meghna river after collision, 37 killed\n"
        "An overcrowded ferry sank on the Meghna river near Chandpur on Friday after it "
        "collided with a cargo vessel, killing 37 people, Bangladesh police said, with "
        "dozens still missing. Navy divers and the fire service joined the search; the "
        "Bangladesh Inland Water Transport Authority said the ferry had no permit to "
        "carry more than 150 passengers.",
        "Dozens missing after ferry collision on Bangladesh's Meghna river\n"
        "Rescue teams searched the Meghna river near Chandpur on Saturday for dozens of "
        "people missing after a crowded ferry hit a cargo ship and sank, a day after the "
        "accident that killed 37. Survivors said the ferry carried twice its capacity; "
        "the government ordered an inquiry and suspended the cargo ship's crew.",
    ),
    "bok": (
        "Bank of Korea cuts key rate to 3.0% as exports slow\n"
        "The Bank of Korea lowered its base rate by a quarter point to 3.0% on Thursday, "
        "citing weak domestic demand and slowing exports, and Governor Rhee Chang-yong "
        "said the board was open to further cuts. Economists polled by Reuters had "
        "expected the move; the won weakened slightly against the dollar after the "
        "decision.",
        "South Korea's central bank lowers rates to 3%, signals more easing\n"
        "South Korea's central bank cut its benchmark interest rate to 3.0% from 3.25% "
        "on Thursday, the second cut in a row, and lowered its growth forecast. Rhee "
        "Chang-yong told reporters that four of six board members saw room for another "
        "reduction within three months if household debt stays under control.",
    ),
    "boj": (
        "Bank of Japan raises rates to 0.5%, highest in 17 years\n"
        "The Bank of Japan raised its short-term policy rate to 0.5% from 0.25% on "
        "Friday, its highest level in 17 years, and Governor Kazuo Ueda said it would "
        "keep raising rates if the economy moves in line with its forecasts. The yen "
        "strengthened after the decision, which eight of nine board members backed.",
        "BOJ hikes to 0.5% as wages rise, Ueda signals more to come\n"
        "Japan's central bank lifted borrowing costs to 0.5% on Friday, citing rising "
        "wages and inflation that has stayed above its 2% target, Kazuo Ueda told a news "
        "conference in Tokyo. It was the Bank of Japan's first hike since July and "
        "brought rates to a level last seen in 2008.",
    ),
    "skt": (
        "SK Telecom says hackers stole USIM data of all 27 million users\n"
        "South Korea's largest mobile carrier SK Telecom said on Friday that a cyberattack "
        "had exposed the USIM data of all its 27 million subscribers and that it would "
        "replace their SIM cards for free. Chief executive Ryu Young-sang apologised; the "
        "Ministry of Science and ICT said the malware had been on the carrier's servers "
        "since 2021.",
        "SK Telecom to swap SIM cards for free after hack of 27 million subscribers\n"
        "Long queues formed at SK Telecom stores in Seoul on Monday as the carrier began "
        "replacing SIM cards for its 27 million subscribers, after hackers took USIM "
        "authentication keys from its home subscriber server. Ryu Young-sang said the "
        "company would compensate any customer harmed by SIM cloning.",
    ),
    "coupang": (
        "Coupang data breach exposed 33.7 million customer accounts\n"
        "South Korean e-commerce leader Coupang said names, addresses and phone numbers "
        "linked to 33.7 million customer accounts had been exposed in a data breach, far "
        "more than the 4,500 it first reported. Police in Seoul are investigating a "
        "former employee, and the Personal Information Protection Commission opened an "
        "inquiry.",
        "Coupang CEO apologises as breach hits 33.7 million accounts\n"
        "Coupang chief executive Park Dae-jun bowed in apology on Monday after the "
        "online retailer said personal data from 33.7 million accounts, nearly every "
        "adult in South Korea, had leaked. Lawmakers called for a fine under the "
        "Personal Information Protection Act; Coupang's shares fell 6% in New York.",
    ),
}

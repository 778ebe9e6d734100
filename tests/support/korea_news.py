"""Five real-world-like events about North Korea, each as several outlets report it.

Written for the tests of issue 13: one original event (North Korean troops in
Kursk, as the Pentagon said in November 2024) and four later developments of the
same topic that a reader wants alerted as events of their own: a capture, a
deployment to another region, a missile launch and an anniversary on the
peninsula. All texts are written for these tests (no outlet's copy); names, places
and numbers are the kind real reports carry, which is what tells the events apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    event: str
    title: str
    body: str


KURSK = "kursk"
CAPTURE = "capture"
BELGOROD = "belgorod"
MISSILE = "missile"
ARMISTICE = "armistice"

ORIGINAL: tuple[Report, ...] = (
    Report(
        KURSK,
        "Thousands of North Korean troops now in Kursk, Pentagon says",
        "About 8,000 North Korean soldiers have moved into Russia's Kursk region and are "
        "expected to join the fighting against Ukrainian forces in the coming days, the "
        "Pentagon said on Monday. Defense Secretary Lloyd Austin told reporters in "
        "Washington that the troops had been trained in Russia's Far East before they "
        "travelled west by train. "
        "Pentagon press secretary Sabrina Singh said the United States had seen no sign "
        "yet that the units had entered combat, but that Moscow had equipped them with "
        "Russian uniforms and artillery. In total about 11,000 soldiers from Pyongyang "
        "are believed to be in Russia. "
        "Ukraine's President Volodymyr Zelensky urged allies to act before the North "
        "Korean units reach the front line in Kursk, where Kyiv has held ground since "
        "its incursion in August.",
    ),
    Report(
        KURSK,
        "Pentagon: about 8,000 North Korean soldiers deployed to Kursk region",
        "The Pentagon said on Monday that roughly 8,000 North Korean soldiers are now in "
        "the Kursk border region of Russia, where Ukrainian troops have held territory "
        "since August. Lloyd Austin, the US Defense Secretary, said he expected them to "
        "be used in combat or frontline support operations against Ukraine soon. "
        "Sabrina Singh, a Pentagon spokeswoman, said about 11,000 North Korean troops "
        "are in Russia in total, many of them trained at bases in the Russian Far East. "
        "Moscow has not confirmed the deployment. Volodymyr Zelensky said Kyiv was "
        "watching the Kursk front closely and asked Washington for long-range weapons.",
    ),
    Report(
        KURSK,
        "US says North Korean troops have reached Kursk and may soon fight",
        "North Korean troops sent to Russia have arrived in the Kursk region near the "
        "Ukrainian border, US Defense Secretary Lloyd Austin said, adding that about "
        "8,000 of them could enter combat within days. The Pentagon estimates that "
        "11,000 soldiers from North Korea are now inside Russia. "
        "Pentagon press secretary Sabrina Singh said the troops wore Russian uniforms "
        "and carried Russian equipment. Ukraine's Volodymyr Zelensky called the "
        "deployment an escalation and said his forces in Kursk were ready.",
    ),
    Report(
        KURSK,
        "North Korean soldiers in Russia's Kursk, Austin warns of combat",
        "Lloyd Austin said on Monday that some 8,000 North Korean soldiers had been "
        "deployed to Russia's Kursk region, the first large foreign contingent to join "
        "Moscow's war against Ukraine. The Pentagon said about 11,000 troops from "
        "Pyongyang are in Russia. Sabrina Singh told reporters the soldiers had trained "
        "with Russian artillery and drones before moving to Kursk. Volodymyr Zelensky "
        "asked the West to respond before they reach the front.",
    ),
)

DEVELOPMENTS: tuple[Report, ...] = (
    Report(
        CAPTURE,
        "Ukraine captures two North Korean soldiers in Kursk",
        "Ukrainian special forces captured two wounded North Korean soldiers during "
        "fighting in the Kursk region, President Volodymyr Zelensky said on Saturday, "
        "publishing photographs of the men. The SBU security service said the two were "
        "taken to Kyiv, where they are being questioned with the help of interpreters "
        "provided by South Korea's National Intelligence Service. "
        "One of the prisoners carried a Russian military identity card issued in Tuva, "
        "the SBU said; neither spoke Russian, Ukrainian or English. Zelensky said Kyiv "
        "was ready to hand them over to Kim Jong Un if Pyongyang arranged an exchange "
        "for Ukrainians held in Russia.",
    ),
    Report(
        CAPTURE,
        "Zelensky: two North Korean prisoners of war taken in Kursk fighting",
        "Two North Korean soldiers were taken prisoner by Ukrainian forces in Russia's "
        "Kursk region, Volodymyr Zelensky said, the first confirmed capture of troops "
        "from Pyongyang. The SBU said the men, one of them wounded in the jaw, were "
        "flown to Kyiv and are being questioned with interpreters from South Korea's "
        "National Intelligence Service. One had papers issued in Tuva. Zelensky offered "
        "to exchange them for Ukrainian prisoners held by Russia.",
    ),
    Report(
        BELGOROD,
        "Pyongyang deploys artillery crews to Belgorod border",
        "North Korea has sent artillery crews and Koksan self-propelled guns to Russia's "
        "Belgorod region, across the border from Kharkiv, Ukraine's military "
        "intelligence agency HUR said on Tuesday. About 600 gunners arrived in Belgorod "
        "by rail, the HUR said, and were seen near the towns of Shebekino and Grayvoron. "
        "Kyrylo Budanov, the head of the HUR, said the crews would fire at Kharkiv "
        "suburbs and that Pyongyang had also shipped 240-millimetre rocket launchers. "
        "The Kremlin declined to comment.",
    ),
    Report(
        BELGOROD,
        "North Korean gunners with Koksan howitzers seen in Belgorod, HUR says",
        "Ukraine's HUR military intelligence said around 600 North Korean artillery "
        "crew members had arrived in Belgorod, opposite Kharkiv, with Koksan "
        "self-propelled guns and 240-millimetre rocket launchers. Budanov said the "
        "gunners were positioned near Shebekino and Grayvoron. The Kremlin did not "
        "comment on the deployment.",
    ),
    Report(
        MISSILE,
        "North Korea fires ballistic missile into the East Sea",
        "North Korea fired a ballistic missile into the East Sea on Wednesday morning, "
        "South Korea's Joint Chiefs of Staff said. The missile was launched from near "
        "Pyongyang's Sunan district at 7:10 a.m. and flew about 1,000 kilometres before "
        "splashing down outside Japan's exclusive economic zone, the JCS said. "
        "Japan's Prime Minister Shigeru Ishiba called the launch a violation of UN "
        "Security Council resolutions. Analysts in Seoul said it appeared to be a test "
        "of the new Hwasong-16B intermediate-range missile with a hypersonic warhead.",
    ),
    Report(
        MISSILE,
        "JCS: North Korea launches ballistic missile toward East Sea",
        "South Korea's Joint Chiefs of Staff said North Korea launched a ballistic "
        "missile from the Sunan area of Pyongyang at 7:10 a.m. on Wednesday. It flew "
        "about 1,000 kilometres and fell into the East Sea outside Japan's exclusive "
        "economic zone. Tokyo protested through diplomatic channels; Shigeru Ishiba "
        "said the launch breached UN Security Council resolutions. Seoul said it "
        "suspected a Hwasong-16B test.",
    ),
    Report(
        ARMISTICE,
        "Koreas mark armistice anniversary as troops stay on alert",
        "South Korea marked the 71st anniversary of the 1953 Korean War armistice on "
        "Saturday with a ceremony at Panmunjom, as troops on both sides of the "
        "Demilitarized Zone stayed on alert. Veterans from 22 countries attended the "
        "ceremony with Minister of Patriots and Veterans Affairs Kang Jung-ai. "
        "In the North, Kim Jong Un visited a war cemetery in Pyongyang and called the "
        "day Victory Day, state media KCNA reported. The armistice ended the fighting "
        "but no peace treaty was ever signed.",
    ),
    Report(
        ARMISTICE,
        "71 years after the armistice, veterans gather at Panmunjom",
        "Veterans from 22 countries gathered at Panmunjom on Saturday for the 71st "
        "anniversary of the armistice that halted the Korean War in 1953. Kang Jung-ai, "
        "South Korea's veterans minister, laid a wreath as soldiers along the DMZ "
        "remained on alert. KCNA said Kim Jong Un marked Victory Day at a cemetery in "
        "Pyongyang. No peace treaty has been signed since.",
    ),
)

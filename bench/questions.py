"""The fixed benchmark workload: 10 questions about the sample handbook in 5 languages.

Each entry is (language, question as a person would write it, the English standalone
question the scripted Nova Micro returns for it). English questions need no Micro call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Asked:
    language: str
    text: str
    english: str


_TOPICS: list[tuple[str, dict[str, str]]] = [
    (
        "How many days of paid annual leave do employees get?",
        {
            "ko": "직원은 유급 연차를 며칠 받나요?",
            "ja": "社員の年次有給休暇は何日ありますか？",
            "es": "¿Cuántos días de vacaciones anuales pagadas tienen los empleados?",
            "de": "Wie viele Tage bezahlten Jahresurlaub bekommen die Mitarbeiter?",
        },
    ),
    (
        "How do I set up the GlobalConnect VPN on my laptop?",
        {
            "ko": "노트북에 GlobalConnect VPN을 어떻게 설정하나요?",
            "ja": "ノートパソコンにGlobalConnect VPNを設定するにはどうすればいいですか？",
            "es": "¿Cómo configuro la VPN GlobalConnect en mi portátil?",
            "de": "Wie richte ich das GlobalConnect VPN auf meinem Laptop ein?",
        },
    ),
    (
        "What is the deadline for submitting expense claims in Spendly?",
        {
            "ko": "Spendly에서 경비 청구는 언제까지 제출해야 하나요?",
            "ja": "Spendlyでの経費精算の提出期限はいつですか？",
            "es": "¿Cuál es el plazo para enviar los gastos en Spendly?",
            "de": "Bis wann muss ich Spesenabrechnungen in Spendly einreichen?",
        },
    ),
    (
        "What should the on-call engineer do first during a Sev1 incident?",
        {
            "ko": "Sev1 장애가 발생하면 온콜 엔지니어는 먼저 무엇을 해야 하나요?",
            "ja": "Sev1インシデントのとき、オンコール担当者はまず何をすべきですか？",
            "es": "¿Qué debe hacer primero el ingeniero de guardia en un incidente Sev1?",
            "de": "Was muss der Bereitschaftsingenieur bei einem Sev1-Vorfall zuerst tun?",
        },
    ),
    (
        "How often can I get a new laptop and how do I request one?",
        {
            "ko": "노트북은 얼마나 자주 교체할 수 있고 어떻게 신청하나요?",
            "ja": "ノートパソコンはどのくらいの頻度で交換でき、どう申請しますか？",
            "es": "¿Cada cuánto puedo pedir un portátil nuevo y cómo lo solicito?",
            "de": "Wie oft bekomme ich einen neuen Laptop und wie beantrage ich ihn?",
        },
    ),
    (
        "How many days a week can Seoul office staff work from home?",
        {
            "ko": "서울 오피스 직원은 주당 며칠 재택근무를 할 수 있나요?",
            "ja": "ソウルオフィスの社員は週に何日在宅勤務できますか？",
            "es": "¿Cuántos días a la semana puede teletrabajar el personal de Seúl?",
            "de": "An wie vielen Tagen pro Woche darf das Seouler Team im Homeoffice arbeiten?",
        },
    ),
    (
        "What is the first response target for urgent tickets on the Team plan?",
        {
            "ko": "Team 플랜의 긴급 티켓 첫 응답 목표 시간은 얼마인가요?",
            "ja": "Teamプランの緊急チケットの初回応答目標は何時間ですか？",
            "es": "¿Cuál es el tiempo objetivo de primera respuesta para tickets urgentes en el plan Team?",
            "de": "Was ist die Zielzeit für die erste Antwort bei dringenden Tickets im Team-Tarif?",
        },
    ),
    (
        "What is the core time of the flextime system in the Tokyo office?",
        {
            "ko": "도쿄 오피스 플렉스타임 제도의 코어타임은 언제인가요?",
            "ja": "東京オフィスのフレックスタイム制度のコアタイムは何時ですか？",
            "es": "¿Cuál es el horario central de la jornada flexible en la oficina de Tokio?",
            "de": "Wann ist die Kernarbeitszeit der Gleitzeit im Büro in Tokio?",
        },
    ),
    (
        "Which authenticator app do I need for multi-factor authentication?",
        {
            "ko": "다단계 인증에는 어떤 인증 앱이 필요한가요?",
            "ja": "多要素認証にはどの認証アプリが必要ですか？",
            "es": "¿Qué aplicación de autenticación necesito para la autenticación multifactor?",
            "de": "Welche Authenticator-App brauche ich für die Multi-Faktor-Authentifizierung?",
        },
    ),
    (
        "What do new hires need to finish in their first week of onboarding?",
        {
            "ko": "신입 사원은 온보딩 첫 주에 무엇을 끝내야 하나요?",
            "ja": "新入社員はオンボーディングの最初の週に何を終える必要がありますか？",
            "es": "¿Qué deben completar los nuevos empleados en su primera semana de incorporación?",
            "de": "Was müssen neue Mitarbeiter in ihrer ersten Einarbeitungswoche erledigen?",
        },
    ),
]

LANGUAGES = ("en", "ko", "ja", "es", "de")


def workload() -> list[Asked]:
    """50 questions: every topic in every language, interleaved by language."""
    asked: list[Asked] = []
    for english, translations in _TOPICS:
        asked.append(Asked("en", english, english))
        asked.extend(Asked(lang, translations[lang], english) for lang in LANGUAGES[1:])
    return asked


def english_for(text: str) -> str | None:
    """The scripted translation of a workload question (None for anything else)."""
    for english, translations in _TOPICS:
        if text == english or text in translations.values():
            return english
    return None


#: A Pro answer of about 110 tokens (typical for a short grounded reply with citations).
ANSWER_EN = (
    "Employees get *20 days* of paid annual leave per calendar year [1]. "
    "Leave is prorated in the first year, and up to five unused days carry over to the next "
    "year [1]. Request leave in PeopleHub at least two weeks ahead for absences longer than "
    "three days; your manager approves it there [2].\n"
    "- Public holidays do not count against annual leave [1].\n"
    "- Sick leave is tracked separately [2]."
)

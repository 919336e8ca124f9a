"""What the bot says on its own (not model output), in the asker's language.

These are written, not machine-translated, so an offline or failing bot still speaks the
user's language. Missing translations fall back to English.
"""

from __future__ import annotations

from typing import Final

from lingua import IsoCode639_1, Language

_MESSAGES: Final[dict[str, dict[str, str]]] = {
    "not_found": {
        "en": "I couldn't find this in the documents I have. Try rephrasing, or ask the team that owns the topic.",
        "ko": "가지고 있는 문서에서 이 내용을 찾지 못했어요. 질문을 바꿔 보시거나 담당 팀에 문의해 주세요.",
        "ja": "手元のドキュメントには該当する情報が見つかりませんでした。言い換えて質問するか、担当チームにお問い合わせください。",
        "zh": "我在现有文档中没有找到相关内容。请换个说法再问，或联系负责该主题的团队。",
        "es": "No encontré esto en los documentos que tengo. Prueba a reformular la pregunta o consulta al equipo responsable.",
        "de": "Dazu habe ich in meinen Dokumenten nichts gefunden. Formuliere die Frage um oder wende dich an das zuständige Team.",
        "fr": "Je n'ai pas trouvé cela dans mes documents. Reformulez la question ou contactez l'équipe concernée.",
        "vi": "Tôi không tìm thấy nội dung này trong tài liệu hiện có. Hãy thử diễn đạt lại hoặc hỏi nhóm phụ trách.",
        "pt": "Não encontrei isso nos documentos que tenho. Tente reformular ou pergunte à equipe responsável.",
        "it": "Non ho trovato questa informazione nei documenti. Prova a riformulare o chiedi al team responsabile.",
        "id": "Saya tidak menemukan ini di dokumen yang saya miliki. Coba ubah pertanyaannya atau tanyakan ke tim terkait.",
        "th": "ไม่พบข้อมูลนี้ในเอกสารที่มีอยู่ ลองถามใหม่ด้วยคำอื่น หรือสอบถามทีมที่รับผิดชอบ",
    },
    "offline_label": {
        "en": "Offline mode: no language model was used. These are the most relevant passages, quoted as written (not translated).",
        "ko": "오프라인 모드: 언어 모델을 사용하지 않았습니다. 가장 관련 있는 문서 구절을 원문 그대로(번역 없이) 인용합니다.",
        "ja": "オフラインモード：言語モデルは使用していません。関連性の高い箇所を原文のまま（翻訳せずに）引用します。",
        "zh": "离线模式：未使用语言模型。以下是最相关的段落，按原文引用（未翻译）。",
        "es": "Modo sin conexión: no se usó ningún modelo de lenguaje. Estos son los pasajes más relevantes, citados tal cual (sin traducir).",
        "de": "Offline-Modus: Es wurde kein Sprachmodell verwendet. Hier die relevantesten Passagen im Original (nicht übersetzt).",
        "fr": "Mode hors ligne : aucun modèle de langage n'a été utilisé. Voici les passages les plus pertinents, cités tels quels (non traduits).",
        "vi": "Chế độ ngoại tuyến: không dùng mô hình ngôn ngữ. Đây là các đoạn liên quan nhất, trích nguyên văn (không dịch).",
        "pt": "Modo offline: nenhum modelo de linguagem foi usado. Estes são os trechos mais relevantes, citados como estão (sem tradução).",
        "it": "Modalità offline: nessun modello linguistico usato. Ecco i passaggi più pertinenti, citati così come sono (non tradotti).",
        "id": "Mode offline: tidak ada model bahasa yang digunakan. Berikut kutipan paling relevan, apa adanya (tidak diterjemahkan).",
        "th": "โหมดออฟไลน์: ไม่ได้ใช้โมเดลภาษา ต่อไปนี้คือข้อความที่เกี่ยวข้องที่สุด ยกมาตามต้นฉบับ (ไม่ได้แปล)",
    },
    "empty_question": {
        "en": "Please write your question after mentioning me, e.g. “How do I set up the VPN?”",
        "ko": "멘션 뒤에 질문을 적어 주세요. 예: “VPN은 어떻게 설정하나요?”",
        "ja": "メンションの後に質問を書いてください。例：「VPNの設定方法は？」",
        "zh": "请在提及我之后写下你的问题，例如：“如何设置 VPN？”",
        "es": "Escribe tu pregunta después de mencionarme, por ejemplo: “¿Cómo configuro la VPN?”",
        "de": "Schreib deine Frage nach der Erwähnung, z. B. „Wie richte ich das VPN ein?“",
        "fr": "Écrivez votre question après m'avoir mentionné, par ex. « Comment configurer le VPN ? »",
        "vi": "Hãy viết câu hỏi sau khi nhắc tên tôi, ví dụ: “Cài đặt VPN thế nào?”",
        "pt": "Escreva sua pergunta depois de me mencionar, por exemplo: “Como configuro a VPN?”",
        "it": "Scrivi la domanda dopo avermi menzionato, ad es. “Come configuro la VPN?”",
        "id": "Tulis pertanyaan setelah menyebut saya, misalnya: “Bagaimana cara mengatur VPN?”",
        "th": "โปรดพิมพ์คำถามหลังจากแท็กฉัน เช่น “ตั้งค่า VPN อย่างไร”",
    },
    "truncated": {
        "en": "Your message was very long, so I only read the first {limit} characters.",
        "ko": "메시지가 너무 길어서 처음 {limit}자만 읽었어요.",
        "ja": "メッセージが長すぎるため、最初の{limit}文字だけを読みました。",
        "zh": "你的消息太长，我只读取了前 {limit} 个字符。",
        "es": "Tu mensaje era muy largo, así que solo leí los primeros {limit} caracteres.",
        "de": "Deine Nachricht war sehr lang, ich habe nur die ersten {limit} Zeichen gelesen.",
        "fr": "Votre message était très long : je n'en ai lu que les {limit} premiers caractères.",
        "vi": "Tin nhắn quá dài nên tôi chỉ đọc {limit} ký tự đầu tiên.",
        "pt": "Sua mensagem era muito longa, então li apenas os primeiros {limit} caracteres.",
        "it": "Il messaggio era molto lungo, quindi ho letto solo i primi {limit} caratteri.",
        "id": "Pesan Anda terlalu panjang, jadi saya hanya membaca {limit} karakter pertama.",
        "th": "ข้อความยาวมาก จึงอ่านเฉพาะ {limit} ตัวอักษรแรก",
    },
    "busy": {
        "en": "I'm handling too many requests right now. Please try again in a minute.",
        "ko": "지금 요청이 너무 많아요. 1분 후에 다시 시도해 주세요.",
        "ja": "現在リクエストが集中しています。1分ほどしてからもう一度お試しください。",
        "zh": "当前请求过多，请一分钟后再试。",
        "es": "Ahora mismo tengo demasiadas solicitudes. Inténtalo de nuevo en un minuto.",
        "de": "Gerade kommen zu viele Anfragen. Bitte versuch es in einer Minute noch einmal.",
        "fr": "Je reçois trop de demandes en ce moment. Réessayez dans une minute.",
        "vi": "Hiện có quá nhiều yêu cầu. Vui lòng thử lại sau một phút.",
        "pt": "Estou com muitas solicitações agora. Tente novamente em um minuto.",
        "it": "Sto gestendo troppe richieste. Riprova tra un minuto.",
        "id": "Sedang terlalu banyak permintaan. Silakan coba lagi dalam satu menit.",
        "th": "ขณะนี้มีคำขอมากเกินไป โปรดลองอีกครั้งในอีกหนึ่งนาที",
    },
    "model_error": {
        "en": "I couldn't reach the language model just now. Please try again in a few minutes; if it keeps happening, tell an admin.",
        "ko": "지금 언어 모델에 연결하지 못했어요. 몇 분 후에 다시 시도해 주시고, 계속되면 관리자에게 알려 주세요.",
        "ja": "言語モデルに接続できませんでした。数分後にもう一度お試しください。続く場合は管理者に連絡してください。",
        "zh": "暂时无法连接语言模型。请几分钟后重试；如果持续出现，请联系管理员。",
        "es": "No pude contactar con el modelo de lenguaje. Inténtalo en unos minutos; si sigue pasando, avisa a un administrador.",
        "de": "Das Sprachmodell ist gerade nicht erreichbar. Versuch es in ein paar Minuten erneut; wenn es anhält, gib einem Admin Bescheid.",
        "fr": "Je n'ai pas pu joindre le modèle de langage. Réessayez dans quelques minutes ; si cela persiste, prévenez un administrateur.",
        "vi": "Không kết nối được mô hình ngôn ngữ. Hãy thử lại sau vài phút; nếu vẫn lỗi, hãy báo quản trị viên.",
        "pt": "Não consegui acessar o modelo de linguagem. Tente novamente em alguns minutos; se continuar, avise um administrador.",
        "it": "Non riesco a raggiungere il modello linguistico. Riprova tra qualche minuto; se continua, avvisa un amministratore.",
        "id": "Saya tidak bisa menghubungi model bahasa. Coba lagi beberapa menit lagi; jika terus terjadi, beri tahu admin.",
        "th": "ไม่สามารถเชื่อมต่อโมเดลภาษาได้ โปรดลองใหม่ในอีกไม่กี่นาที หากยังเกิดขึ้นโปรดแจ้งผู้ดูแล",
    },
    "incomplete": {
        "en": "_(The answer was cut off. Ask again to get the rest.)_",
        "ko": "_(답변이 중간에 끊겼어요. 다시 질문하시면 나머지를 받을 수 있어요.)_",
        "ja": "_（回答が途中で途切れました。もう一度質問すると続きを取得できます。）_",
        "zh": "_（回答被中断了。请再问一次以获取剩余内容。）_",
        "es": "_(La respuesta se cortó. Vuelve a preguntar para obtener el resto.)_",
        "de": "_(Die Antwort wurde abgeschnitten. Frag noch einmal, um den Rest zu bekommen.)_",
        "fr": "_(La réponse a été interrompue. Reposez la question pour obtenir la suite.)_",
        "vi": "_(Câu trả lời bị ngắt. Hãy hỏi lại để nhận phần còn lại.)_",
        "pt": "_(A resposta foi interrompida. Pergunte de novo para receber o resto.)_",
        "it": "_(La risposta è stata interrotta. Chiedi di nuovo per avere il resto.)_",
        "id": "_(Jawaban terpotong. Tanyakan lagi untuk mendapatkan sisanya.)_",
        "th": "_(คำตอบถูกตัดกลางคัน ถามอีกครั้งเพื่อรับส่วนที่เหลือ)_",
    },
    "no_index": {
        "en": "No documents have been ingested yet. An admin can run /ingest to load them.",
        "ko": "아직 수집된 문서가 없어요. 관리자가 /ingest 로 문서를 불러올 수 있어요.",
        "ja": "まだドキュメントが取り込まれていません。管理者が /ingest で読み込めます。",
        "zh": "尚未导入任何文档。管理员可以运行 /ingest 导入。",
        "es": "Aún no se han cargado documentos. Un administrador puede ejecutar /ingest.",
        "de": "Es wurden noch keine Dokumente eingelesen. Ein Admin kann /ingest ausführen.",
        "fr": "Aucun document n'a encore été chargé. Un administrateur peut lancer /ingest.",
        "vi": "Chưa có tài liệu nào được nạp. Quản trị viên có thể chạy /ingest.",
        "pt": "Nenhum documento foi carregado ainda. Um administrador pode executar /ingest.",
        "it": "Non è stato ancora caricato alcun documento. Un amministratore può eseguire /ingest.",
        "id": "Belum ada dokumen yang dimuat. Admin dapat menjalankan /ingest.",
        "th": "ยังไม่มีการนำเข้าเอกสาร ผู้ดูแลสามารถใช้คำสั่ง /ingest ได้",
    },
    "error": {
        "en": "Something went wrong on my side. Please try again; if it keeps happening, tell an admin.",
        "ko": "처리 중 문제가 생겼어요. 다시 시도해 주시고, 계속되면 관리자에게 알려 주세요.",
        "ja": "こちらで問題が発生しました。もう一度お試しください。続く場合は管理者に連絡してください。",
        "zh": "我这边出了点问题。请重试；如果持续出现，请联系管理员。",
        "es": "Algo falló por mi parte. Inténtalo de nuevo; si sigue pasando, avisa a un administrador.",
        "de": "Bei mir ist etwas schiefgelaufen. Bitte versuch es erneut; wenn es anhält, gib einem Admin Bescheid.",
        "fr": "Un problème est survenu de mon côté. Réessayez ; si cela persiste, prévenez un administrateur.",
        "vi": "Đã có lỗi phía tôi. Hãy thử lại; nếu vẫn lỗi, hãy báo quản trị viên.",
        "pt": "Algo deu errado do meu lado. Tente novamente; se continuar, avise um administrador.",
        "it": "Qualcosa è andato storto. Riprova; se continua, avvisa un amministratore.",
        "id": "Terjadi kesalahan di sisi saya. Coba lagi; jika terus terjadi, beri tahu admin.",
        "th": "เกิดข้อผิดพลาดจากฝั่งของฉัน โปรดลองอีกครั้ง หากยังเกิดขึ้นโปรดแจ้งผู้ดูแล",
    },
    "sources": {
        "en": "Sources",
        "ko": "출처",
        "ja": "出典",
        "zh": "来源",
        "es": "Fuentes",
        "de": "Quellen",
        "fr": "Sources",
        "vi": "Nguồn",
        "pt": "Fontes",
        "it": "Fonti",
        "id": "Sumber",
        "th": "แหล่งที่มา",
    },
    "greeting": {
        "en": "Hi! Ask me anything about the team's documents.",
        "ko": "안녕하세요! 팀 문서에 대해 무엇이든 물어보세요.",
        "ja": "こんにちは！チームのドキュメントについて何でも聞いてください。",
        "zh": "你好！关于团队文档的任何问题都可以问我。",
        "es": "¡Hola! Pregúntame lo que quieras sobre los documentos del equipo.",
        "de": "Hallo! Frag mich alles zu den Dokumenten des Teams.",
        "fr": "Bonjour ! Posez-moi vos questions sur les documents de l'équipe.",
        "vi": "Xin chào! Hãy hỏi tôi bất cứ điều gì về tài liệu của nhóm.",
        "pt": "Olá! Pergunte-me qualquer coisa sobre os documentos da equipe.",
        "it": "Ciao! Chiedimi qualsiasi cosa sui documenti del team.",
        "id": "Halo! Tanyakan apa saja tentang dokumen tim.",
        "th": "สวัสดี! ถามอะไรก็ได้เกี่ยวกับเอกสารของทีม",
    },
}


def message(key: str, language: str, **values: object) -> str:
    """The bot's own sentence `key` in `language` (English when there is no translation)."""
    texts = _MESSAGES[key]
    return texts.get(language, texts["en"]).format(**values)


def language_name(code: str) -> str:
    """English name of an ISO 639-1 code, for prompts ("ko" -> "Korean")."""
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code)).name.title()
    except ValueError:
        return code


def available_languages(key: str) -> frozenset[str]:
    return frozenset(_MESSAGES[key])

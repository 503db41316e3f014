"""What forward blocks look like, per mail client and per language — data only, no logic.

Each table is written as the clients write it (case is ignored when matching). Adding a language is
adding words here; the reader in ``inline.py`` never names a language itself.
"""

from __future__ import annotations

# Phrases written between dashes ("---------- Forwarded message ---------") by Gmail, Yahoo,
# Thunderbird, HubSpot, Missive, IONOS and Outlook's "-----Original Message-----".
DASHED_PHRASES: tuple[str, ...] = (
    "forwarded message", "original message", "message d'origine", "message transféré", "message transmis",
    "weitergeleitete nachricht", "ursprüngliche nachricht", "originalnachricht",
    "mensaje reenviado", "mensaje original", "mensagem encaminhada", "mensagem reencaminhada",
    "mensagem original", "messaggio inoltrato", "messaggio originale", "doorgestuurd bericht",
    "oorspronkelijk bericht", "przekazana wiadomość", "wiadomość przesłana dalej", "oryginalna wiadomość",
    "treść przekazanej wiadomości", "přeposlaná zpráva", "původní zpráva", "preposlaná správa",
    "pôvodná správa", "továbbított üzenet", "eredeti üzenet", "mesaj redirecționat", "mesaj original",
    "mesaj redirectionat", "proslijeđena poruka", "izvorna poruka", "videresendt meddelelse",
    "oprindelig meddelelse", "videresendt melding", "opprinnelig melding", "vidarebefordrat meddelande",
    "ursprungligt meddelande", "edelleenlähetetty viesti", "välitetty viesti", "alkuperäinen viesti",
    "пересылаемое сообщение", "перенаправленное сообщение", "исходное сообщение",
    "пересланное сообщение", "переслане повідомлення", "перенаправлене повідомлення",
    "вихідне повідомлення", "iletilmiş mesaj", "i̇letilmiş mesaj", "iletilen ileti", "i̇letilen i̇leti",
    "özgün ileti", "メッセージを転送", "転送されたメッセージ", "元のメッセージ", "edastatud kiri",
    "προωθημένο μήνυμα", "转发的邮件", "原始邮件", "전달된 메시지",
)

# Whole-line introductions ending with a colon: Apple Mail (every locale) and MailMate.
INTRO_LINES: tuple[str, ...] = (
    "begin forwarded message", "forwarded message", "anfang der weitergeleiteten nachricht",
    "begin doorgestuurd bericht", "début du message réexpédié", "début du message transféré",
    "inicio del mensaje reenviado", "início da mensagem encaminhada", "início da mensagem reencaminhada",
    "inizio messaggio inoltrato", "początek przekazywanej wiadomości", "start på videresendt besked",
    "továbbított levél kezdete", "vidarebefordrat mejl", "videresendt melding", "välitetty viesti alkaa",
    "započni proslijeđenu poruku", "začiatok preposlanej správy", "začátek přeposílané zprávy",
    "începe mesajul redirecționat", "i̇leti başlangıcı", "ileti başlangıcı",
    "начало переадресованного сообщения", "початок листа, що пересилається", "転送されたメッセージ",
    "以下のメッセージを転送します",
)

# Header labels of a forwarded block, by the field they name. Outlook uses "Sent" for the date.
LABELS: dict[str, tuple[str, ...]] = {
    "from": (
        "from", "von", "de", "de la", "da", "van", "od", "fra", "från", "lähettäjä", "feladó", "kimden",
        "от", "від", "від кого", "отправитель", "šalje", "expeditorul", "mittente", "nadawca", "saatja",
        "送信元", "差出人", "afzender", "remitente", "absender", "expéditeur", "gönderen", "odesílatel",
        "avsender", "remetente", "lähettäjä", "pošiljatelj", "feladó",
    ),
    "to": (
        "to", "an", "à", "a", "pre", "para", "aan", "do", "til", "till", "vastaanottaja", "címzett", "kime",
        "кому", "komu", "prima", "către", "destinatarul", "pour", "adresat", "送信先", "宛先", "empfänger",
        "destinatario", "destinataire", "alıcı", "saaja", "ontvanger", "mottagare", "mottaker", "primatelj",
    ),
    "cc": (
        "cc", "kopie", "kopia", "kopio", "kopi", "копия", "копія", "másolat", "másolatot kap", "kópia",
        "bilgi", "dw", "kopie (cc)", "copie à", "copia", "kopija", "koopia", "cc/bcc", "cópia",
    ),
    "bcc": ("bcc", "cci", "ccn", "cco", "bkopie", "skrytá kopie", "ukryta kopia", "titkos másolat"),
    "date": (
        "date", "datum", "data", "fecha", "dato", "дата", "tarih", "päivämäärä", "päiväys", "dátum",
        "dată", "sent", "gesendet", "envoyé", "enviado", "enviada", "inviato", "verzonden", "sendt",
        "skickat", "wysłano", "odesláno", "odoslané", "elküldve", "lähetetty", "trimis", "poslano",
        "отправлено", "надіслано", "відправлено", "gönderildi", "gönderilen", "日付", "送信日時",
        "kuupäev", "poslato", "datum i vrijeme",
    ),
    "subject": (
        "subject", "betreff", "objet", "sujet", "asunto", "assunto", "oggetto", "onderwerp", "temat",
        "předmět", "predmet", "emne", "ämne", "aihe", "tárgy", "konu", "тема", "subiect", "subiectul",
        "naslov", "件名", "teema", "tema",
    ),
    "reply_to": ("reply-to", "antwort an", "répondre à", "responder a", "rispondi a", "antwoord aan"),
}

# Yahoo writes its whole header block on one line and drops the colon after a few labels.
COLONLESS_LABELS: dict[str, str] = {"dw": "cc", "assunto": "subject"}

# Languages a label gives away; used only to settle month names that mean different months in
# related languages (Croatian "listopad" is October, Polish and Czech "listopad" is November).
LABEL_LANGUAGES: dict[str, str] = {
    "šalje": "hr", "prima": "hr", "poslano": "hr", "naslov": "hr", "primatelj": "hr",
    "wysłano": "pl", "temat": "pl", "nadawca": "pl", "adresat": "pl", "dw": "pl",
    "komu": "cs", "předmět": "cs", "odesláno": "cs", "odoslané": "sk", "kópia": "sk",
    "від": "uk", "копія": "uk", "надіслано": "uk",
}

# Reply-style introductions ("On <date>, <name> wrote:"). Outlook for Mac writes a forward this way,
# so such a line counts only when the forward's own subject says it is a forward.
WROTE_WORDS: tuple[str, ...] = (
    "wrote", "schrieb", "a écrit", "escribió", "escreveu", "ha scritto", "geschreven", "napisał",
    "napsal(a)", "napsal", "napísal", "skrev følgende", "skrev", "kirjoitti", "ezt írta", "написал",
    "написала", "написав", "şunu yazdı", "a scris", "je napisao", "je napisala", "書きました",
)

# Words that stand between the date and the name in a reply-style line.
WROTE_LEAD_WORDS: tuple[str, ...] = (
    "heeft", "időpontban", "používateľ", "użytkownik", "пользователь", "користувач", "uživatel",
    "skrev", "schrieb", "den", "on", "am", "le", "el", "em", "il giorno", "op", "dne", "dnia", "d.",
)

# Subject prefixes a forwarding client adds, in every language seen (with or without a dot).
FORWARD_PREFIXES: tuple[str, ...] = (
    "fwd", "fw", "fwrd", "wg", "tr", "rv", "i", "doorst", "vs", "vl", "enc", "pd", "vb", "videresend",
    "redir", "i̇lt", "ilt", "pr", "prosl", "továbbítás", "továbbítva", "tov", "fs", "trs", "reenv",
    "inoltro", "wd", "weiterl", "пересл", "пересылка", "fwd/re", "转发", "転送", "iletildi",
)

# Reply prefixes, so that a reply to the logging address is not mistaken for a forward.
REPLY_PREFIXES: tuple[str, ...] = (
    "re", "aw", "sv", "antw", "odp", "odg", "ynt", "válasz", "vá", "atb", "rif", "r", "ref",
    "res", "rép", "ang", "отв", "ha", "返信", "回复",
)

# Client names recognised from the marker that opened the block, for the logged record.
CLIENT_BY_MARKER: dict[str, str] = {
    "dashed-gmail": "gmail",
    "dashed-yahoo": "yahoo",
    "dashed-thunderbird": "thunderbird",
    "dashed-original": "outlook",
    "intro": "apple-mail",
    "underscores": "outlook",
    "headers": "outlook",
    "wrote": "outlook-mac",
}

"""Month names and time-zone abbreviations as forward headers write them — data only.

Keys are lower-case and without a trailing dot. A name that means different months in different
languages is listed in ``AMBIGUOUS_MONTHS`` instead, with the month for each language.
"""

from __future__ import annotations

_MONTHS_BY_NUMBER: dict[int, str] = {
    1: "january jan janvier janv enero ene gennaio gen janeiro januari januar jänner styczeń stycznia sty "
    "leden ledna január januára ianuarie ian siječanj siječnja sij tammikuu tammikuuta tammik jaanuar "
    "январь января янв січень січня січ ocak oca",
    2: "february feb febr février févr fév febrero febbraio fevereiro fev februari februar luty lutego lut "
    "únor února február februára februarie veljača veljače velj helmikuu helmikuuta helmik veebruar "
    "февраль февраля февр фев лютий лютого лют şubat şub",
    3: "march mar mars marzo março maart mrt märz mär mrz marzec marca březen března marec március márc "
    "martie ožujak ožujka ožu maaliskuu maaliskuuta maalisk märts март марта мар березень березня бер "
    "mart marts",
    4: "april apr avril avr abril abr aprile aprilie kwiecień kwietnia kwi duben dubna apríl apríla "
    "április ápr travanj travnja tra huhtikuu huhtikuuta huhtik aprill апрель апреля апр квітень "
    "квітня квіт nisan nis",
    5: "may mai mayo maggio mag maio mei maj maja květen května máj mája május svibanj svibnja svi "
    "toukokuu toukokuuta toukok май мая травень травня трав mayıs",
    6: "june jun juin junio giugno giu junho juni czerwiec czerwca cze červen června jún júna június "
    "iunie iun lipanj lipnja kesäkuu kesäkuuta kesäk juuni июнь июня июн червень червня черв haziran haz",
    7: "july jul juillet juil julio luglio lug julho juli lipiec lipca červenec července júl júla július "
    "iulie iul srpanj srpnja srp heinäkuu heinäkuuta heinäk juuli июль июля июл липень липня лип "
    "temmuz tem",
    8: "august aug août agosto ago augustus sierpień sierpnia sie srpen srpna augusta augusztus "
    "kolovoz kolovoza kol elokuu elokuuta elok augusti август августа авг серпень серпня серп "
    "ağustos ağu",
    9: "september sep sept septembre septiembre setiembre settembre set setembro wrzesień września wrz "
    "září septembra szeptember szept septembrie rujan rujna ruj syyskuu syyskuuta syysk сентябрь "
    "сентября сент сен вересень вересня вер eylül eyl",
    10: "october oct octobre octubre ottobre ott outubro out oktober okt październik października paź "
    "říjen října október októbra octombrie lokakuu lokakuuta lokak oktoober октябрь октября окт "
    "жовтень жовтня жовт ekim eki",
    11: "november nov novembre noviembre novembro listopadu novembra noiembrie studeni studenoga studenog "
    "stu marraskuu marraskuuta marrask ноябрь ноября нояб ноя листопад листопада лист kasım kas",
    12: "december dec décembre déc diciembre dic dicembre dezembro dez dezember grudzień grudnia gru "
    "prosinec prosince decembra decembrie prosinac prosinca pro joulukuu joulukuuta jouluk detsember "
    "desember des декабрь декабря дек грудень грудня груд aralık ara",
}

MONTHS: dict[str, int] = {
    name: number for number, names in _MONTHS_BY_NUMBER.items() for name in names.split()
}

# Croatian names its months after nature; its October and June are Polish/Czech November and July.
AMBIGUOUS_MONTHS: dict[str, dict[str, int]] = {
    "listopad": {"hr": 10, "pl": 11, "cs": 11},
    "listopada": {"hr": 10, "pl": 11},
    "lis": {"hr": 10, "pl": 11},
    "lip": {"hr": 6, "pl": 7},
}
DEFAULT_LANGUAGE_FOR_AMBIGUOUS = "pl"

# Words in a date that give its language away when a month name is ambiguous.
LANGUAGE_CUES: dict[str, frozenset[str]] = {
    "hr": frozenset(
        {"u", "sri", "uto", "čet", "ned", "pon", "pet", "sub", "ponedjeljak", "utorak", "srijeda"}
        | {"četvrtak", "petak", "subota", "nedjelja"}
    ),
    "pl": frozenset(
        {"o", "śr", "wt", "czw", "pt", "sob", "niedz", "poniedziałek", "wtorek", "środa", "czwartek"}
        | {"piątek", "sobota", "niedziela"}
    ),
}

# Offsets in minutes east of UTC. Ambiguous abbreviations (IST, CST in China vs America, …) take
# their most common meaning in business mail, which is what dateutil and most clients assume too.
TIMEZONES: dict[str, int] = {
    "utc": 0,
    "gmt": 0,
    "ut": 0,
    "z": 0,
    "wet": 0,
    "west": 60,
    "bst": 60,
    "cet": 60,
    "cest": 120,
    "mez": 60,
    "mesz": 120,
    "seč": 60,
    "selč": 120,
    "sec": 60,
    "selc": 120,
    "eet": 120,
    "eest": 180,
    "oez": 120,
    "oesz": 180,
    "msk": 180,
    "trt": 180,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "akst": -540,
    "akdt": -480,
    "hst": -600,
    "jst": 540,
    "kst": 540,
    "sgt": 480,
    "hkt": 480,
    "awst": 480,
    "acst": 570,
    "aest": 600,
    "aedt": 660,
    "nzst": 720,
    "nzdt": 780,
    "brt": -180,
    "art": -180,
}

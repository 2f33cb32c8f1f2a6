"""Find and mask personal data in Chinese free text.

Used by intake (a ticket's text is masked before it enters any event), by feedback's public hall
and by the test that scans every Kafka event. Pure functions, no I/O.

What it catches (each a ``Finding.kind``):
* ``mobile``    mainland mobile numbers 1[3-9]x xxxx xxxx, with spaces/dashes and +86/0086/86.
                Masked ``138****5678``.
* ``id_number`` 18-character resident ID numbers (last may be X) with a plausible birth date;
                the checksum is NOT required, since a mistyped ID is still someone's ID.
                Masked ``3412**********1234``.
* ``bank_card`` runs of 16-19 digits (grouped by spaces/dashes or not) that pass the Luhn check
                or start with 62 (UnionPay), plus any run of 12-19 digits right after a cue such
                as 卡号/银行卡/账号. Masked to the last four digits.
* ``landline``  0 + 2/3-digit area code + 7/8 digits (0558-2345678, (0558)2345678, 0558 2345678).
                Area code kept, number masked but for its last two digits.
* ``email``     ordinary addresses; first character and domain kept.
* ``address``   house numbers: after a road/street/lane (…路/街/巷/道/弄) the numbers of
                号/栋/幢/号楼/单元/层/楼/室 are masked, the road kept ("人民路*号*栋*单元*室");
                also any run like "3栋2单元501室" on its own.
* ``name``      a name right after a cue (我叫, 我是, 本人, 姓名, 联系人, 户主, 报修人, 名叫,
                投诉人, 来电人, 申请人, 当事人...) that starts with a common surname, and a
                full name right before an honorific or a phone cue with no cue before it
                (王秀英女士, 张建国师傅, 李娜电话...): the given name is masked ("张*", "欧阳**").
                A bare surname with an honorific (王女士, 李师傅) is left alone: it identifies nobody.
* ``plate``     licence plates (皖K12345, 皖KD12345): province and letter kept, "皖K***45".
* ``account``   WeChat / QQ ids after their cue (微信号, 微信, QQ): all but the first character.

Known gaps (kept on purpose to stay conservative): names with neither cue nor honorific,
numbers written in Chinese numerals (一三八…), addresses written only with Chinese numerals,
and foreign phone numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "Finding",
    "contains_personal_data",
    "find_personal_data",
    "mask_id_number",
    "mask_name",
    "mask_personal_data",
    "mask_phone",
]


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str
    masked: str


_NOT_DIGIT_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_DIGIT_AFTER = r"(?![0-9])"

_ID_RE = re.compile(
    _NOT_DIGIT_BEFORE
    + r"[1-9]\d{5}[\s\-]?(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[\s\-]?\d{3}[\dXx]"
    + r"(?![0-9A-Za-z])"
)
_MOBILE_RE = re.compile(
    r"(?<![0-9+])(?:(?:\+|00)?86[\s\-]?)?(1[3-9]\d)[\s\-]?(\d{4})[\s\-]?(\d{4})" + _NOT_DIGIT_AFTER
)
_LANDLINE_RE = re.compile(
    r"(?<![0-9])(?:\(|（)?(0\d{2,3})(?:\)|）)?[\s\-]?([2-9]\d{6,7})" + _NOT_DIGIT_AFTER
)
_CARD_RE = re.compile(r"(?<![0-9])\d{4}(?:[\s\-]?\d{4}){2}[\s\-]?\d{4,7}" + _NOT_DIGIT_AFTER)
_CARD_CUE_RE = re.compile(r"(?:卡号|银行卡|账号|帐号)[^0-9]{0,6}?(\d(?:[\s\-]?\d){11,18})" + _NOT_DIGIT_AFTER)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")

_PLATE_RE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]([A-HJ-NP-Z])[·\s]?([A-HJ-NP-Z0-9]{5,6})"
    r"(?![A-Za-z0-9])"
)
_ACCOUNT_RE = re.compile(r"(?:微信号|微信|QQ号|QQ|qq)[:：\s]*([A-Za-z0-9_\-]{5,20})(?![A-Za-z0-9_\-])")

_UNIT = r"(?:号楼|号院|号|栋|幢|座|单元|层|楼|室|户)"
_NUMBER = r"\d+(?:[\-－]\d+)?"
_ROAD_ADDRESS_RE = re.compile(r"(?<=[路街巷道弄])" + rf"{_NUMBER}号(?:{_NUMBER}{_UNIT})*")
_BUILDING_RUN_RE = re.compile(
    rf"(?<![0-9]){_NUMBER}(?:号楼|栋|幢|座)(?:(?:{_NUMBER}{_UNIT})+(?:\d+)?|\d+)"
    rf"|(?<![0-9]){_NUMBER}单元{_NUMBER}(?:室|户|层|楼)?"
    # building-unit-room in figures after an estate's name: 幸福里小区3-2-501, 住3-2-501
    r"|(?<=[区园苑寓院厦村里城庭居住])\d{1,3}[\-－]\d{1,2}[\-－]\d{3,4}(?![0-9\-－])"
)

# The ~100 most common surnames cover most people; compound ones are checked first.
# Public (COMPOUND_SURNAMES, SURNAMES): the hall's stricter masker reuses them.
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯")
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
    "武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒"
    "阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓"
    "古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_NAME_CUE_RE = re.compile(
    r"(我叫|名叫|我是|本人是|本人|市民|居民|业主|住户|村民|租户|"
    r"(?:姓名|联系人|户主|报修人|投诉人|举报人|来电人|反映人|申请人|当事人)"
    r"(?:是|为)?[:：\s]*)"
)
# Cues that as often describe people as name them ("市民高度关注", "业主委员会"): the name must
# end at a clear boundary or before what follows a name (反映, 来电...), as after 我是.
_STRICT_CUES = ("我是", "本人是", "市民", "居民", "业主", "住户", "村民", "租户")
_HONORIFICS = ("女士", "先生", "师傅", "老师", "大爷", "大妈", "阿姨", "叔叔", "经理", "主任", "同志", "老板",
               "小姐", "医生", "书记", "大姐", "大哥", "奶奶", "爷爷")
# Characters that, right after a surname-like first character, show we are not reading a name
# ("我是王庄村的", "我是周边居民"): place words, particles and common nouns.
_NOT_GIVEN_NAME = set("村庄镇乡区县市店家的在是住了和与及边围某业主户居民")
# Words that often follow a name directly ("本人张伟反映…"): the name ends before them.
_WORDS_AFTER_NAME = ("反映", "投诉", "举报", "来电", "咨询", "家住", "电话", "手机", "今年", "住在", "联系",
                     "本人")
_STOP_AFTER_NAME = set("的在是住了和与及，。,.！!？?；;：:、（(）) \n\t")
# Right after a full name with no cue before it: an honorific, or where to reach the person.
_NAME_SUFFIX_RE = re.compile(
    r"(?:女士|先生|小姐|同志|师傅|老师|医生|阿姨|大爷|大妈|大姐|大哥|奶奶|爷爷|老人|同学"
    r"|的电话|的手机|电话|手机号|手机)"
)
# Characters that are surnames but, before another surname, usually join words ("和王秀女士").
_LINKING_CHARS = set("和向于时给对跟同与及是找叫让被为将把由")


def _keep_ends(digits: str, head: int, tail: int) -> str:
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``; other numbers keep their last two digits only."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and digits.startswith("1"):
        return _keep_ends(digits, 3, 4)
    return _keep_ends(digits, 0, 2) if len(digits) > 2 else "*" * len(digits)


def mask_id_number(id_number: str) -> str:
    """``341202199001011234`` → ``3412**********1234``."""
    value = id_number.strip().upper()
    return _keep_ends(value, 4, 4) if len(value) > 8 else "*" * len(value)


def mask_name(name: str) -> str:
    """``张三`` → ``张*``; ``欧阳娜娜`` → ``欧阳**``; a one-character name becomes ``*``."""
    name = name.strip()
    surname_len = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    if len(name) <= 1:
        return "*" * len(name)
    return name[:surname_len] + "*" * (len(name) - surname_len)


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_digits(text: str) -> str:
    return re.sub(r"\d", "*", text)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Every pattern above needs a digit, a Latin letter, "_", "-" or "@" (an ID, card, phone, e-mail,
# plate, account or house number): a text without any (most complaints, in Chinese only) is
# spared the eleven scans.
_MAY_MATCH_A_PATTERN = re.compile(r"[\dA-Za-z_@\-]")


# Full-width digits, Latin letters and the few signs the patterns read (＋ － ＠ ． ＿), as
# ASCII: "电话１３９１２３４５６７８" is a phone number as much as "13912345678" is (an IME's
# full-width mode writes it so). One character for one, so the positions of what is found
# stay those of the original text; the Chinese punctuation the cues read (：（）) is kept.
_FULL_WIDTH = str.maketrans(
    {0xFF10 + i: 0x30 + i for i in range(10)}
    | {0xFF21 + i: 0x41 + i for i in range(26)}
    | {0xFF41 + i: 0x61 + i for i in range(26)}
    | {0xFF0B: 0x2B, 0xFF0D: 0x2D, 0xFF20: 0x40, 0xFF0E: 0x2E, 0xFF3F: 0x5F})
_HAS_FULL_WIDTH = re.compile("[\uff0b\uff0d\uff0e\uff10-\uff19\uff20-\uff3a\uff3f\uff41-\uff5a]")


def _pattern_findings(original: str) -> list[Finding]:
    found: list[Finding] = []
    text = original.translate(_FULL_WIDTH) if _HAS_FULL_WIDTH.search(original) else original
    if not _MAY_MATCH_A_PATTERN.search(text):
        return found
    for m in _ID_RE.finditer(text):
        found.append(Finding("id_number", m.start(), m.end(), m.group(),
                             mask_id_number(re.sub(r"[\s\-]", "", m.group()))))
    for m in _CARD_CUE_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group(1))
        found.append(Finding("bank_card", m.start(1), m.end(1), m.group(1), "*" * (len(digits) - 4) + digits[-4:]))
    for m in _CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 16 <= len(digits) <= 19 and (_luhn_ok(digits) or digits.startswith("62")):
            found.append(Finding("bank_card", m.start(), m.end(), m.group(), "*" * (len(digits) - 4) + digits[-4:]))
    for m in _MOBILE_RE.finditer(text):
        found.append(Finding("mobile", m.start(), m.end(), m.group(), mask_phone("".join(m.groups()))))
    for m in _LANDLINE_RE.finditer(text):
        area, number = m.group(1), m.group(2)
        found.append(Finding("landline", m.start(), m.end(), m.group(), f"{area}-{_keep_ends(number, 0, 2)}"))
    for m in _EMAIL_RE.finditer(text):
        found.append(Finding("email", m.start(), m.end(), m.group(), _mask_email(m.group())))
    for m in _PLATE_RE.finditer(text):
        tail = m.group(2)
        masked = text[m.start()] + m.group(1) + "*" * (len(tail) - 2) + tail[-2:]
        found.append(Finding("plate", m.start(), m.end(), m.group(), masked))
    for m in _ACCOUNT_RE.finditer(text):
        account = m.group(1)
        found.append(Finding("account", m.start(1), m.end(1), account,
                             account[0] + "*" * (len(account) - 1)))
    for regex in (_ROAD_ADDRESS_RE, _BUILDING_RUN_RE):
        for m in regex.finditer(text):
            found.append(Finding("address", m.start(), m.end(), m.group(), _mask_digits(m.group())))
    if text is not original:  # what was found, as the original text writes it
        found = [Finding(f.kind, f.start, f.end, original[f.start:f.end], f.masked) for f in found]
    return found


def _name_after(text: str, pos: int, strict: bool) -> tuple[int, int] | None:
    """Span of a personal name starting at ``pos``, or None when what follows is not a name."""
    surname_len = 2 if text[pos : pos + 2] in COMPOUND_SURNAMES else 1
    if surname_len == 1 and text[pos : pos + 1] not in SURNAMES:
        return None
    end = pos + surname_len
    if text.startswith(_HONORIFICS, end):
        return None
    given = 0
    while end < len(text) and given < 2 and "\u4e00" <= text[end] <= "\u9fff":
        if text[end] in _STOP_AFTER_NAME or (given == 0 and text[end] in _NOT_GIVEN_NAME):
            break
        if text.startswith(_WORDS_AFTER_NAME, end):
            break
        end += 1
        given += 1
    if given == 0:
        return None
    # After "我是" a name must end at a clear boundary; otherwise it is probably a description
    # ("我是张庄社区居民") and we leave it alone.
    at_boundary = end >= len(text) or text[end] in _STOP_AFTER_NAME or text[end].isdigit()
    if strict and not (at_boundary or text.startswith(_WORDS_AFTER_NAME, end)):
        return None
    return pos, end


def _name_findings(text: str) -> list[Finding]:
    found = []
    for cue in _NAME_CUE_RE.finditer(text):
        span = _name_after(text, cue.end(), strict=cue.group(1) in _STRICT_CUES)
        if span is not None:
            name = text[span[0] : span[1]]
            found.append(Finding("name", span[0], span[1], name, mask_name(name)))
    for suffix in _NAME_SUFFIX_RE.finditer(text):
        span = _name_before(text, suffix.start())
        if span is not None:
            name = text[span[0] : span[1]]
            found.append(Finding("name", span[0], span[1], name, mask_name(name)))
    return found


def _is_surname_at(text: str, pos: int) -> int:
    """Length of the surname starting at ``pos`` (2 compound, 1 simple), 0 when none."""
    if text[pos : pos + 2] in COMPOUND_SURNAMES:
        return 2
    return 1 if text[pos : pos + 1] in SURNAMES else 0


def _overlaps_honorific(text: str, start: int, end: int) -> bool:
    for h in _HONORIFICS:
        pos = text.find(h, max(0, start - len(h) + 1), end + len(h) - 1)
        if pos != -1 and pos < end and pos + len(h) > start:
            return True
    return False


def _name_before(text: str, end: int) -> tuple[int, int] | None:
    """A full name (surname + one or two given characters) that ends right at ``end``.

    Prefers the longer name, unless its first character reads better as a word of its own
    ("和王秀女士": 和 is a surname too, but here it means "and").
    """
    for length in (4, 3, 2):
        start = end - length
        if start < 0 or not all("\u4e00" <= ch <= "\u9fff" for ch in text[start:end]):
            continue
        surname = _is_surname_at(text, start)
        given = length - surname
        if surname == 0 or not 1 <= given <= 2:
            continue
        if length == 4 and surname == 1:
            continue
        if surname == 1 and text[start] in _LINKING_CHARS and _is_surname_at(text, start + 1):
            continue
        if any(ch in _NOT_GIVEN_NAME or ch in _STOP_AFTER_NAME for ch in text[start + surname : end]):
            continue
        if _overlaps_honorific(text, start, end):
            continue  # "王女士电话", "王师傅手机": a surname and an honorific, not a name
        return start, end
    return None


def find_personal_data(text: str) -> list[Finding]:
    """Every piece of personal data found in ``text``, in order, without overlaps.

    Where two patterns claim overlapping text, the one found first in priority order wins
    (ID number, bank card, mobile, landline, e-mail, address, name), then the longer one.
    """
    candidates = _pattern_findings(text) + _name_findings(text)
    chosen: list[Finding] = []
    taken = [False] * len(text)
    for finding in candidates:  # priority order is the order the finders ran in
        if any(taken[finding.start : finding.end]):
            continue
        chosen.append(finding)
        for i in range(finding.start, finding.end):
            taken[i] = True
    return sorted(chosen, key=lambda f: f.start)


def mask_personal_data(text: str) -> str:
    """``text`` with every finding replaced by its masked form."""
    out: list[str] = []
    cursor = 0
    for finding in find_personal_data(text):
        out.append(text[cursor : finding.start])
        out.append(finding.masked)
        cursor = finding.end
    out.append(text[cursor:])
    return "".join(out)


def contains_personal_data(text: str) -> bool:
    """True when ``text`` still holds something ``mask_personal_data`` would mask."""
    return any(f.text != f.masked for f in find_personal_data(text))


_ECHOABLE = re.compile(r"^[A-Za-z0-9_.:\-]{1,48}$")


def echo(value: object) -> str:
    """The caller's value as an error message may quote it: a short identifier-like value
    (``'fax'``, ``'FY-251127-00042-K'``) as its repr; anything else (Chinese text, a long run
    of digits, spaces) is not repeated, since it may be a name, phone or ID number, and error
    bodies end up in logs and proxies."""
    text = str(value)
    if _ECHOABLE.match(text) and not re.search(r"\d{7,}", text):
        return repr(text)
    return "(the value given, not repeated: it may hold personal data)"

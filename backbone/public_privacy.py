"""The public masker (the hall, Open311's public reads): the platform masker plus what it is
known to miss.

`backbone.privacy.mask_personal_data` is conservative: it masks a name only after a cue
(我叫, 联系人...) and leaves "王女士" alone. But a full name before an honorific
("王秀英女士") identifies someone, and units' replies name people after other cues
(工作人员, 网格员, 联系了...), or before 本人 ("请联系甄慧敏本人"). The hall is public, so it
masks those too, the numbers of a household (building, unit, room) however written, and any
long run of digits or Chinese numerals that could be a phone or ID number written oddly. Over-masking a
public page costs little; one leak is one too many.
"""

from __future__ import annotations

import re

from backbone.privacy import COMPOUND_SURNAMES, SURNAMES, mask_personal_data

_SURNAMES = "".join(sorted(SURNAMES))
_COMPOUND = "|".join(COMPOUND_SURNAMES)
_HONORIFICS = ("女士|先生|师傅|老师|大爷|大妈|阿姨|叔叔|经理|主任|同志|老板|小姐|医生|书记|大姐|大哥|"
               "奶奶|爷爷|老人|站长|队长|科长|所长|局长|本人")
_GIVEN = r"[\u4e00-\u9fff]"
# Characters that do not start a given name: "王女士" must stay (the honorific follows the
# surname directly). "(?<!公)": the 司 of 公司 is a surname too ("物业公司张经理").
_NOT_GIVEN = "的在是和与及对向给把被从到了为村庄镇乡区县市路街号楼室家店"

_NAME_BEFORE_HONORIFIC = re.compile(
    rf"(?<!公)((?:{_COMPOUND})|[{_SURNAMES}])"
    rf"((?:(?![{_NOT_GIVEN}]){_GIVEN}){{1,2}})(?=(?:{_HONORIFICS}))"
)
# After these cues a name follows more often than not: mask up to two given-name characters,
# stopping at a verb or particle ("网格员刘建国已上门" -> "网格员刘**已上门").
_STOP_AFTER_NAME = _NOT_GIVEN + "已反说称表来去将等即也都又再就于并同"
_NAME_AFTER_CUE = re.compile(
    r"(工作人员|网格员|负责人|社区干部|经办人|承办人|回复人|联系了|致电|告知了|电话联系|居民|市民|业主)"
    rf"((?:{_COMPOUND})|[{_SURNAMES}])((?:(?![{_STOP_AFTER_NAME}]){_GIVEN}){{1,2}})"
)
# A household: the numbers of a building, unit and room, with or without a road before them
# ("阳光花园12栋1203", "3号楼2单元501", "幸福里小区3-2-501"): the platform masker masks them
# only after a road or when a room word ends the run.
_HOUSEHOLD = re.compile(
    r"[0-9０-９]+(?:[\-－][0-9０-９]+)*(?=号楼|栋|幢|单元|室|户)"
    r"|(?:(?<=号楼)|(?<=单元)|(?<=[栋幢]))[0-9０-９]+"
    r"|(?<![0-9０-９*])[0-9０-９]+(?:[\-－][0-9０-９]+){2,}(?![0-9０-９])"
)
_DIGIT_RUN = re.compile(r"(?<![0-9*])\d(?:[\s\-]?\d){6,}")
_CN_NUMERAL_RUN = re.compile(r"[零〇一二三四五六七八九幺]{7,}")


def _stars(match: re.Match[str], group: int) -> str:
    return "*" * len(match.group(group))


def mask_for_public(text: str) -> str:
    """Mask `text` for the public hall: the platform masker first, then the hall's own rules."""
    if not text:
        return text
    text = mask_personal_data(text)
    text = _NAME_BEFORE_HONORIFIC.sub(lambda m: m.group(1) + _stars(m, 2), text)
    text = _NAME_AFTER_CUE.sub(lambda m: m.group(1) + m.group(2) + _stars(m, 3), text)
    text = _HOUSEHOLD.sub(lambda m: re.sub(r"[0-9０-９]", "*", m.group()), text)
    text = _DIGIT_RUN.sub(lambda m: "*" * len(m.group()), text)
    return _CN_NUMERAL_RUN.sub(lambda m: "*" * len(m.group()), text)

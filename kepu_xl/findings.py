"""The finding model: the catalogue of codes → `Finding` → `Findings` → a job's `Report`.

Every problem kepuxl reports, from a bad form definition to a negative number in a returned
form, is a `Finding` with a stable code from `Code`, a severity, a location and a Chinese
message. Findings are data: stages collect them and go on; they raise `KepuError` only
when they cannot go on at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any


class Severity(StrEnum):
    """error: must be fixed (the return is rejected); verify (核实): must be explained in 情况说明 or
    confirmed by the clerk before the unit's numbers enter the totals; warning: shown and counted;
    info: a note."""

    ERROR = "error"
    VERIFY = "verify"
    WARNING = "warning"
    INFO = "info"

    @property
    def zh(self) -> str:
        """The one Chinese word for this severity, wherever a user reads it (terminal, workbooks, mail)."""
        return SEVERITY_ZH[self]


SEVERITY_ZH = {
    Severity.ERROR: "错误",
    Severity.VERIFY: "待核实",
    Severity.WARNING: "警告",
    Severity.INFO: "提示",
}
E, V, W, I = Severity.ERROR, Severity.VERIFY, Severity.WARNING, Severity.INFO  # noqa: E741


class Code(Enum):
    """Stable finding codes. The member name is the code; the value is (severity, title, template).

    Templates are formatted with the finding's context; they say what is wrong and how to fix it.
    """

    # -- form definitions (forms/*.toml) -------------------------------------------------------
    SPEC_TOML = (E, "定义文件语法错误", "表单定义不是合法的 TOML：{error}。请按 TOML 语法修正后再试。")
    SPEC_MISSING = (E, "缺少必填项", "{where} 缺少“{key}”。请补充该项。")
    SPEC_UNKNOWN_KEY = (E, "未知配置项", "{where} 含未知配置项“{key}”（可用：{allowed}）。请检查拼写。")
    SPEC_BAD_VALUE = (E, "配置值不正确", "{where} 的“{key}”取值“{value}”不正确：{rule}。")
    SPEC_DUPLICATE_ID = (E, "编号重复", "{where} 的编号“{id}”与前面重复。每个指标/规则的编号必须唯一。")
    SPEC_BAD_ID = (
        E,
        "编号不合法",
        "{where} 的编号“{id}”不合法：只能用小写英文字母、数字和下划线，且以字母开头。",
    )
    SPEC_RULE = (E, "规则表达式错误", "{where} 的表达式“{expr}”有误：{error}。")
    SPEC_TOO_LONG = (E, "文字过长", "{where} 的“{key}”长 {length} 字，超过 Excel 上限 {limit} 字。请缩短。")
    SPEC_WORKBOOK = (
        E,
        "定义工作簿无法读取",
        "表单定义工作簿无法读取：{error}。请用 Excel/WPS 打开后另存为 .xlsx 再试。",
    )

    # -- kepuxl forms from-table: a blank statistics table from above → a definition workbook -----
    TABLE_FILE = (
        E,
        "统计表无法读取",
        "{error}。请用 Excel/WPS 打开后另存为 .xlsx（Word 中的表格可另存为 .docx）再试。",
    )
    DEFINITION_EXISTS = (
        E,
        "定义文件已存在",
        "{path} 已存在，未覆盖（其中可能有改过的定义）。请换一个文件名，或加 --force 覆盖。",
    )
    TABLE_NO_INPUT = (
        E,
        "找不到填报格",
        "表中没有找到要填写的空白格（{detail}）。请确认这是下发的空白统计表，或直接编写表单定义工作簿"
        "（kepuxl forms export science_week -o 示例.xlsx 可得到一份范例）。",
    )
    TABLE_SHAPE = (I, "表格形状", "看作{shape}。")
    TABLE_UNIT = (I, "表的单位", "“{text}”：表中没有另写单位的指标按“{measure}”计。")
    TABLE_TITLE = (I, "表名", "表名取“{title}”{note}。")
    TABLE_FIELD = (I, "指标", "指标 {id}“{label}”：{measure}，{kind}{source}。")
    TABLE_TOTAL = (I, "合计", "“{label}”是合计：{id} = {formula}（自动计算）。")
    TABLE_INFO = (I, "填表信息", "“{label}”作为填表信息 {id}（{kind}）。")
    TABLE_UNIT_CELL = (I, "填报单位", "“{label}”由表格自动填写单位名称，不作为指标。")
    TABLE_NOTE = (I, "填表说明", "“{text}”作为填表说明。")
    TABLE_SKIPPED = (I, "未作为指标", "“{text}”{why}，不作为指标。")
    TABLE_NO_LABEL = (
        W,
        "填报格没有标签",
        "填报格 {input} 没有标签，无法判断填的是什么。定义中的{target} 已留空，请填写标签（以及单位）。",
    )
    TABLE_NO_UNIT = (
        W,
        "单位不明",
        "“{label}”看不出计量单位（标签、表头、所在部分都没有写）。定义中的{target} 已留空，请填写单位，并核对类型。",
    )
    TABLE_UNCLEAR = (
        W,
        "合并格用途不明",
        "合并的单元格 {range}（“{text}”）{why}，未作处理。请对照原表，在定义中补上或删去相应的指标。",
    )
    TABLE_TOTAL_UNCLEAR = (
        W,
        "合计范围不明",
        "“{label}”像是合计，但{why}，已作为普通填报项。如需自动计算，请在定义中填写{target}。",
    )

    # -- campaign config and roster ------------------------------------------------------------
    CAMPAIGN_FILE = (E, "活动配置无法读取", "活动配置文件 {path} 无法读取：{error}。")
    CAMPAIGN_NOT_FOUND = (
        E,
        "找不到活动配置",
        "找不到活动配置文件 {path}。请先用 cd 进入活动文件夹（放 kepuxl.toml 的文件夹）再运行，"
        "或用 -c 指定配置文件，如 -c 2024科技活动周/kepuxl.toml；还没有活动文件夹时，先运行 kepuxl init 文件夹名 新建。",
    )
    CAMPAIGN_SYNTAX = (
        E,
        "活动配置写法有误",
        "活动配置文件 {path} 第 {line} 行写法有误：{cause}。{fix}（该行：{text}；解析器提示：{detail}）",
    )
    CAMPAIGN_EXISTS = (
        E,
        "活动文件夹已存在",
        "{folder} 中已有 {files}，kepuxl init 不会覆盖，未做任何改动（已发出的表格要靠原来的单位名单和活动密钥识别）。"
        "继续这次活动：cd 进入该文件夹，运行 kepuxl make-forms 等命令；新建活动：换一个新的文件夹名。",
    )
    CAMPAIGN_NESTED = (
        E,
        "不在活动文件夹内新建活动",
        "{folder} 在活动文件夹 {outer} 之内（那里已有 kepuxl.toml），在其中再建活动会让名单、收件箱和输出混在一起，"
        "未做任何改动。请在活动文件夹之外新建（如先 cd 到它的上一级）；确需放在里面，加 --nested。",
    )
    CAMPAIGN_UNKNOWN_FORM = (
        E,
        "表单定义不存在",
        "活动配置 [campaign] 的 form 为“{form}”，既不是内置表单定义，也找不到这个文件（{path}）。"
        "内置表单定义有：{known}（与所填名称最接近的在前）。请改成其中之一，或写表单定义文件的路径。",
    )
    CAMPAIGN_MISSING = (E, "活动配置缺项", "活动配置 [{table}] 缺少“{key}”。请在 kepuxl.toml 中补充。")
    CAMPAIGN_BAD_VALUE = (E, "活动配置值不正确", "活动配置 [{table}] 的“{key}”取值“{value}”不正确：{rule}。")
    ROSTER_FILE = (E, "名单无法读取", "单位名单 {path} 无法读取：{error}。")
    ROSTER_MISSING_COLUMN = (E, "名单缺列", "单位名单缺少“{column}”列。表头应包含：{expected}。")
    ROSTER_UNKNOWN_COLUMN = (
        E,
        "名单有未知列",
        "单位名单第 1 行的“{column}”不是可识别的列名（可用：{expected}）。",
    )
    ROSTER_EMPTY_NAME = (E, "单位名称为空", "单位名单第 {row} 行的单位名称为空。请填写或删除该行。")
    ROSTER_DUPLICATE = (E, "单位重复", "单位名单第 {row} 行的{what}“{value}”与第 {first_row} 行重复。")
    ROSTER_BAD_EMAIL = (
        W,
        "邮箱格式可疑",
        "单位名单第 {row} 行的电子邮箱“{value}”格式不正确，发送表格时将跳过该单位。",
    )
    ROSTER_BAD_ID = (
        E,
        "单位编码不合法",
        "单位名单第 {row} 行的单位编码“{value}”不合法：只能用字母、数字、-、_。",
    )
    ROSTER_SIMILAR_NAME = (
        E,
        "单位名称难以区分",
        "单位名单第 {row} 行的单位名称“{value}”与第 {first_row} 行的“{first}”只差括号、空格、全角/半角、大小写"
        "或不可见字符，收回的表格无法区分两者。请改成明显不同的名称，或删去重复的一行。",
    )
    ROSTER_CONTROL_CHAR = (
        E,
        "名单含控制字符",
        "单位名单第 {row} 行的“{column}”含控制字符（{chars}），常见于 Alt+Enter 换行或从别处复制来的文字，"
        "会破坏邮件和表格。请在 Excel/WPS 中重新输入该单元格，写在一行内。",
    )
    ROSTER_INVISIBLE = (
        W,
        "名单含不可见字符",
        "单位名单第 {row} 行的“{column}”含不可见字符（{chars}，如零宽空格、文字方向控制符），已去掉，"
        "按“{value}”使用。建议在名单中重新输入该单元格。",
    )
    ROSTER_FORMULA = (
        E,
        "名单单元格是没有结果的公式",
        "单位名单第 {row} 行的“{column}”是公式 {formula}，但文件里没有保存它的计算结果"
        "（由程序生成、未在 Excel/WPS 中保存过）。请用 Excel/WPS 打开名单并保存一次，或直接输入文字。",
    )

    # -- intake: files in the inbox ------------------------------------------------------------
    READ_EMPTY = (E, "空文件", "文件为空（0 字节）。请对方重新发送。")
    READ_WRONG_FORMAT = (
        E,
        "不是 Excel 文件",
        "文件不是 Excel 工作簿（可能是 CSV、网页或文本改了扩展名）。请对方用 Excel/WPS 打开原表，另存为 .xlsx 后重发。",
    )
    READ_LEGACY_FORMAT = (
        E,
        "旧版格式无法读取",
        "旧版 .xls/.et 文件读取失败：{error}。请对方另存为 .xlsx 后重发。",
    )
    READ_STRICT_OOXML = (
        E,
        "严格 Open XML 格式",
        "文件是“严格 Open XML”格式，无法读取。请对方另存为普通“Excel 工作簿(*.xlsx)”后重发。",
    )
    READ_ENCRYPTED = (E, "文件有打开密码", "文件设置了打开密码，无法读取。请对方取消打开密码后重发。")
    READ_CORRUPT = (E, "文件已损坏", "文件已损坏或不完整（{error}）。请对方重新发送原文件。")
    READ_ZIP_LIMITS = (E, "文件结构异常", "文件结构异常（{error}），为安全起见已跳过。请对方重新另存后发送。")
    READ_XML_DTD = (
        E,
        "文件含不安全内容",
        "文件的 {part} 含 DTD/实体声明，为安全起见已跳过。请对方用 Excel/WPS 另存后重发。",
    )
    READ_TOO_LARGE = (
        E,
        "文件过大",
        "文件超出允许范围（{error}），已跳过。请对方只发送统计表本身（删去多余的工作表和图片后另存）。",
    )
    READ_FAILED = (E, "无法读取", "无法读取此文件（{error}）。请对方用 Excel/WPS 另存为 .xlsx 后重发。")
    READ_LOCAL = (
        E,
        "本机无法读取",
        "本机无法读取“{name}”（{error}）。这不是报送单位的问题：请检查它在本机的访问权限、是否被杀毒软件拦截，"
        "或是否为尚未下载到本机的 OneDrive/网盘占位文件，处理后重新运行。",
    )
    READ_CRASHED = (
        E,
        "读取崩溃",
        "读取此文件时解析程序崩溃（{error}），已跳过，其余文件不受影响。"
        "请对方用 Excel/WPS 打开原表，另存为 .xlsx 后重发。",
    )
    READ_TIMEOUT = (
        E,
        "读取超时",
        "读取此文件超过 {seconds} 秒，已跳过。请对方用 Excel/WPS 打开原表，删去多余的工作表和图片，另存为 .xlsx 后重发。",
    )
    READ_MACRO_IGNORED = (W, "含宏", "文件含宏代码，宏已忽略（不会运行）。")
    READ_EML = (
        E,
        "邮件无法解析",
        "邮件无法解析（{error}），已跳过。请对方重新发一封邮件，把统计表直接作为附件。",
    )
    READ_ATTACHMENT = (E, "附件损坏", "邮件附件“{name}”已损坏（{error}）。请对方重新发送。")
    READ_ATTACHMENT_NAME = (I, "附件名已规范化", "附件名“{raw}”已规范化为“{name}”。")
    READ_OTHER_FILE = (I, "非报表文件", "“{name}”不是统计表（{kind}），已列入其他材料。")
    READ_SKIPPED = (I, "已跳过", "已跳过“{name}”：{why}。")
    READ_XLSB = (
        E,
        "二进制工作簿",
        "文件是 Excel 二进制工作簿（.xlsb），无法读取。请对方在 Excel 中另存为“Excel 工作簿(*.xlsx)”后重发。",
    )
    READ_TOO_DEEP = (
        E,
        "嵌套过深",
        "{what}嵌套超过 {limit} 层，里面的文件未展开。请对方把统计表直接作为邮件附件发送。",
    )
    READ_DUPLICATE_ATTACHMENT = (I, "重复附件", "与同一邮件中的“{kept}”内容完全相同，已忽略。")
    READ_NO_FILENAME = (I, "附件无文件名", "邮件附件没有文件名，已按内容识别，记为“{name}”。")

    # -- identity ------------------------------------------------------------------------------
    ID_NO_IDENTITY = (
        W,
        "表格身份信息缺失",
        "表格中没有本系统生成时写入的身份信息（可能重新制作了表格），已按单位名称“{name}”识别。请提醒该单位使用下发的表格。",
    )
    ID_UNKNOWN_UNIT = (
        E,
        "无法识别单位",
        "无法确定该表属于哪个单位（单位栏为“{name}”，不在名单中）。请核实后让该单位使用下发的表格重报。",
    )
    ID_MISMATCH = (
        E,
        "身份信息不一致",
        "表格的身份信息互相矛盾：{detail}。可能复制了其他单位的表格。请让该单位使用下发给本单位的表格重报。",
    )
    ID_BAD_TOKEN = (
        E,
        "身份校验失败",
        "表格的身份校验码不正确（表格被伪造或来自其他单位）。请让该单位使用下发的表格重报。",
    )
    ID_OTHER_CAMPAIGN = (
        E,
        "其他活动的表格",
        "这是“{campaign}”活动的表格，不是本次活动的。请让该单位使用本次下发的表格重报。",
    )
    ID_OTHER_YEAR = (
        E,
        "往年或其他活动的表格",
        "这张表属于 {year} 年的“{title}”，不是本次的 {current_year} 年“{current_title}”（可能用了往年的表格）。"
        "请让该单位使用本次下发的表格重报。",
    )
    ID_LEGACY_STAMP = (
        I,
        "旧版身份信息",
        "表格由旧版 kepuxl 生成，身份信息中没有年度；表头“{title}”与本次年度 {year} 相符，已按本次活动的表格识别。",
    )
    ID_LEGACY_NO_YEAR = (
        E,
        "旧版表格无法确认年度",
        "表格由旧版 kepuxl 生成，身份信息中没有年度，表头“{title}”也看不出年度，无法确认是本次 {current_year} 年"
        "“{current_title}”的表格。请让该单位使用本次下发的表格重报。",
    )
    ID_OLD_VERSION = (
        E,
        "旧版表格",
        "表格版本为 {version}，本次应为 {expected}（可能用了往年的模板）。请让该单位使用本次下发的表格重报。",
    )
    ID_NOT_A_FORM = (I, "不是本次统计表", "工作簿“{name}”中没有找到统计表“{form_sheet}”，已列入其他材料。")

    # -- audit of one return -------------------------------------------------------------------
    AUDIT_SHEET_MISSING = (
        E,
        "工作表缺失",
        "缺少工作表“{name}”（可能被改名或删除）。请使用下发的表格，不要修改表格结构。",
    )
    AUDIT_STRUCTURE = (
        E,
        "表格结构被改动",
        "应为“{expected}”，实际为“{actual}”：表格结构被改动（插入/删除了行或列，或使用了旧模板）。请使用下发的表格重新填报。",
    )
    AUDIT_UNPROTECTED = (W, "工作表保护被取消", "工作表“{name}”的保护被取消。请核实表格结构和公式未被改动。")
    AUDIT_REQUIRED = (E, "必填项为空", "“{label}”未填写。没有发生请填 0。")
    AUDIT_UNPARSED = (
        E,
        "不是数字",
        "“{label}”填写的是“{raw}”，不是数字。请只填阿拉伯数字（单位：{measure}），不要带文字或范围。",
    )
    AUDIT_INFO_MISSING = (W, "表头信息未填", "“{label}”未填写。请补填，便于核对联系。")
    AUDIT_NEGATIVE = (
        E,
        "不能为负数",
        "“{label}”为 {value}，不能为负数。请填实际数量，没有发生的填 0。",
    )
    AUDIT_NOT_INTEGER = (E, "应为整数", "“{label}”为 {value}，应为整数（单位：{measure}）。")
    AUDIT_DECIMALS = (E, "小数位过多", "“{label}”为 {value}，最多保留 {places} 位小数（单位：{measure}）。")
    AUDIT_OUT_OF_RANGE = (E, "超出范围", "“{label}”为 {value}，超出允许范围 {low}～{high}。")
    AUDIT_NUMBER_AS_TEXT = (
        E,
        "数字存成了文字",
        "“{label}”填写的是文字“{raw}”，不是数字：表内的合计和自查不计算文字。"
        "请删除后重新输入数字 {value}（单位：{measure}）。",
    )
    AUDIT_FORMULA_VALUE = (I, "按公式结果计", "“{label}”填写的是公式“{raw}”，按其结果 {value} 计。")
    AUDIT_DASH_ZERO = (I, "按 0 计", "“{label}”填写为“{raw}”，按 0 计。")
    AUDIT_CELL_ERROR = (E, "单元格为错误值", "“{label}”为错误值 {raw}。请修正后重报。")
    AUDIT_DATE_YEAR_ADDED = (
        I,
        "日期补上年份",
        "“{label}”填写为“{raw}”，没有年份，按活动所在年份记为 {value}。",
    )
    AUDIT_BAD_DATE = (
        W,
        "日期无法识别",
        "“{label}”填写为“{raw}”，无法识别为日期。请按 {example} 这样的格式填写。",
    )
    AUDIT_BAD_CHOICE = (W, "选项不在列表中", "“{label}”填写为“{raw}”，不在可选项中（{choices}）。")
    AUDIT_TOTAL_DIFFERS = (
        I,
        "合计已重算",
        "“{label}”表内显示 {cached}，按各分项重算为 {value}，以重算结果为准。",
    )
    AUDIT_RULE = (W, "审核规则", "{message}")
    AUDIT_COPY = (
        W,
        "数据与其他单位完全相同",
        "全部数据与“{other}”完全相同，可能复制了其他单位的数据。请核实。",
    )
    AUDIT_TEXT_TRUNCATED = (W, "文字过长已截断", "“{label}”文字超过 {limit} 字，汇总中已截断。")
    AUDIT_BLANK = (
        E,
        "整表未填写",
        "统计表的数值和填表信息全部空白（可能发回了下发的空表）。请填写后重新发送；没有开展的项目请填 0。",
    )

    # -- resolving returns to units ------------------------------------------------------------
    RESOLVE_DUPLICATE = (I, "重复文件", "与“{kept}”内容完全相同，已忽略。")
    RESOLVE_SUPERSEDED = (I, "已被新版本替代", "已被 {newer}（{received}）替代。")
    RESOLVE_MISSING = (
        E,
        "未报送",
        "尚未收到该单位的统计表。请联系该单位尽快报送（kepuxl remind 可生成催报邮件）；"
        "已收到的请把文件或邮件放进收件箱后重新汇总。",
    )
    RESOLVE_LATE = (W, "逾期报送", "邮件发送时间 {received} 晚于截止时间 {deadline}。")
    RESOLVE_MAYBE_LATE = (
        I,
        "可能逾期",
        "{source} {received} 晚于截止时间 {deadline}，但这只是文件保存到本机的时间，不一定是收到的时间。"
        "要按邮件发送时间判断，请用 kepuxl fetch 收取邮件，或把来信另存为 .eml 放进收件箱。",
    )
    RESOLVE_NOT_SUPERSEDED = (
        W,
        "身份未通过的文件未采用",
        "较新的文件“{newer}”（{received}）身份校验未通过，没有替代已采用的“{kept}”。"
        "请核实是否有人用其他单位的表格冒名报送；确需更正的，请该单位用下发给本单位的表格重报。",
    )
    RESOLVE_CONFIRMED = (I, "已核实", "{at} 已核实：{note}")
    RESOLVE_CONFIRM_VOID = (
        I,
        "核实已失效",
        "{at} 的核实针对此前的文件“{path}”；该单位已重报，新文件中的待核实数据需要重新核实。",
    )

    # -- kepuxl confirm: the clerk's 核实 of a unit's return ---------------------------------
    CONFIRM_UNKNOWN_UNIT = (
        E,
        "没有该单位",
        "单位名单中没有“{name}”{hint}。请写单位名称或单位编码（可用 kepuxl confirm --list 查看已核实的单位）。",
    )
    CONFIRM_NO_RETURN = (
        E,
        "没有可核实的统计表",
        "台账中没有“{name}”已采用的统计表。请先把回执放进收件箱并运行 kepuxl collect，再核实。",
    )
    CONFIRM_NOTHING = (
        W,
        "没有待核实的数据",
        "“{name}”最近一次汇总采用的文件“{path}”没有待核实的数据，未记录核实。",
    )
    CONFIRM_NOT_FOUND = (W, "没有核实记录", "“{name}”没有有效的核实记录，无需撤销。")
    RESOLVE_SENDER = (
        I,
        "发件人与名单不符",
        "发件人 {sender} 不是名单中的邮箱 {expected}（可能由他人代发）。",
    )

    # -- e-mail: drafts, SMTP, IMAP (mail.py) and the materials sent with a form ---------------
    MAIL_CONFIG = (E, "邮件设置缺项", "kepuxl.toml 的 [mail] 缺少“{key}”：{hint}")
    MAIL_NO_ADDRESS = (
        W,
        "单位无邮箱",
        "名单中“{name}”没有有效的电子邮箱，未生成邮件。请在单位名单的“电子邮箱”列补填后重新生成。",
    )
    MAIL_TEMPLATE = (
        W,
        "模板占位符未知",
        "邮件模板 {template} 中的“{placeholder}”不是可用的占位符（可用：{allowed}），已原样保留。",
    )
    MAIL_UNSAFE_TEXT = (
        E,
        "名单文字含控制字符",
        "名单中“{name}”（单位编码 {id}）的“{column}”含换行等控制字符（{chars}），不能写进邮件头，"
        "未生成该单位的邮件。请在单位名单中删去这些字符后重新生成。",
    )
    MAIL_DRAFTS_FOLDER = (
        E,
        "草稿文件夹有其他文件",
        "草稿文件夹 {folder} 中有不是 kepuxl 草稿的“{name}”。草稿文件夹每次整体替换，为免误删，未生成草稿。"
        "请把它移走，或用 -o 另选一个文件夹。",
    )
    MAIL_DRAFTS_INCOMPLETE = (
        E,
        "草稿不完整",
        "草稿文件夹 {folder} 不完整：{error}。未发送任何邮件。"
        "请重新生成草稿（kepuxl mail drafts 或 kepuxl remind）后再发送。",
    )
    MAIL_DRAFT = (
        E,
        "草稿不能发送",
        "邮件草稿 {draft} 不能发送：{error}。请重新生成草稿（kepuxl mail drafts 或 kepuxl remind）。",
    )
    MAIL_CONNECT = (
        E,
        "无法连接邮件服务器",
        "无法连接 {server}：{error}。请检查服务器地址、端口、加密方式（ssl/starttls）和网络。",
    )
    MAIL_LOGIN = (
        E,
        "邮箱登录失败",
        "登录 {server} 失败（账号 {user}）：{error}。QQ/163 邮箱须填“授权码”而不是登录密码，"
        "并在网页邮箱的设置中开启 SMTP/IMAP 服务。",
    )
    MAIL_REFUSED = (E, "收件人被拒收", "服务器拒收发往 {to} 的邮件：{error}。请核对单位名单中的邮箱。")
    MAIL_SEND_FAILED = (
        E,
        "发送失败",
        "发往 {to} 的邮件发送失败：{error}。再次运行 kepuxl send 只会补发未成功的邮件。",
    )
    MAIL_NOT_ATTEMPTED = (W, "未发送", "发往 {to} 的邮件未发送：{why}。")
    MAIL_ALREADY_SENT = (I, "已发送过", "发往 {to} 的{what}已于 {at} 发送过，本次跳过。{hint}")
    MAIL_FOLDER = (
        E,
        "邮箱文件夹不存在",
        "邮箱中没有文件夹“{folder}”（现有：{folders}）。请修改 kepuxl.toml 中的 imap_folder。",
    )
    MAIL_FETCH_FAILED = (W, "邮件下载失败", "邮件 {what} 下载失败：{error}。下次运行 kepuxl fetch 会重试。")
    MATERIAL_MISSING = (
        W,
        "随表材料不全",
        "{name}应至少 {need} {measure}，收到 {got} {measure}。请提醒该单位补报。",
    )
    MATERIAL_VIDEO_LONG = (
        W,
        "视频超过时长",
        "视频“{name}”长 {length}，超过规定的 {limit}。请提醒该单位剪辑到 {limit} 以内后重发。",
    )
    MATERIAL_VIDEO_UNREAD = (
        I,
        "视频时长未读出",
        "视频“{name}”的时长未能读出（{error}），已计入视频数。如需核对时长，请打开视频查看。",
    )

    # -- last year beside this year ([compare] previous; previous.py) --------------------------
    # A problem with last year's workbook never stops collect: there is no comparison this time, and the
    # finding says which file and how to fix it.
    COMPARE_NOT_FOUND = (
        W,
        "找不到上年数据",
        "kepuxl.toml 的 [compare] previous 指向的“{path}”不存在，本次不与上年比较。请写上年活动文件夹"
        "或上年汇总表（……_汇总.xlsx）的路径（相对于 kepuxl.toml 所在的文件夹）。",
    )
    COMPARE_NO_SUMMARY = (
        W,
        "上年文件夹中没有汇总表",
        "上年活动文件夹“{path}”中{why}，本次不与上年比较。请先在上年的文件夹里运行 kepuxl collect，"
        "或把 [compare] previous 直接写成上年汇总表（……_汇总.xlsx）的路径。",
    )
    COMPARE_SELF = (
        W,
        "上年数据指向本次活动",
        "[compare] previous 指向的“{path}”是本次活动自己的汇总表，本次不与上年比较。请改为上年活动的文件夹或汇总表。",
    )
    COMPARE_UNREADABLE = (
        W,
        "上年汇总表无法读取",
        "上年汇总表“{path}”无法读取：{error}，本次不与上年比较。请用 Excel/WPS 打开后另存为 .xlsx，"
        "或改写 kepuxl.toml 的 [compare] previous。",
    )
    COMPARE_NOT_SUMMARY = (
        W,
        "不是 kepuxl 汇总表",
        "“{path}”{why}，不像 kepuxl 生成的汇总表，本次不与上年比较。请写上年 kepuxl collect 生成的"
        "“……_汇总.xlsx”（可以是用 Excel/WPS 另存过的）。",
    )
    COMPARE_BAD_VALUE = (
        W,
        "上年数据不是数字",
        "上年汇总表的 {where}（{name}的“{label}”）是“{raw}”，不是数字，按没有上年数处理（这一项不与上年比较）。",
    )
    COMPARE_FIELDS = (
        I,
        "部分指标没有上年数",
        "上年汇总表中没有这些指标的列：{labels}。它们不与上年比较（上年的表单可能不同）。",
    )
    COMPARE_UNITS_GONE = (
        I,
        "上年单位不在今年名单中",
        "上年汇总表中有 {n} 个计入汇总的单位在今年的名单中找不到（单位编码和名称都不同）：{names}。"
        "它们的数计入上年合计，但不与今年的单位逐一比较；改了名的单位，可在名单中沿用上年的单位编码。",
    )
    COMPARE_UNITS_NEW = (
        I,
        "单位没有上年数",
        "今年名单中有 {n} 个单位在上年汇总表中没有计入汇总的数（新增、改名或上年未报）：{names}。它们不与上年比较。",
    )

    # -- the 总结报告（数据部分）.docx (report_docx.py) -----------------------------------------
    REPORT_TEMPLATE = (
        W,
        "报告模板占位符未知",
        "报告模板 {template} 中的“{placeholder}”不是可用的占位符（可用：{allowed}），已原样保留。",
    )
    REPORT_NO_CHARTS = (
        W,
        "报告中没有图表",
        "总结报告中没有插入图表：{why}。其余内容照常写出；{fix}",
    )

    # -- the reporting chain: kepuxl report-up, and the 下级单位 sheet of a return from below ------
    REPORT_UPPER_FORM = (
        E,
        "上级表格无法使用",
        "上级表格 {path} 无法使用：{error}。请使用上级下发的 .xlsx 原表（不要另存为其他格式，不要复制到新工作簿）。",
    )
    REPORT_OWN_FORM = (
        E,
        "不是上级的表格",
        "{path} 是本活动（{campaign}）下发给下级单位的表格，不是上级下发的。请使用上级为本单位生成的统计表。",
    )
    REPORT_NO_FIELD_MAP = (
        E,
        "上级表格没有指标编号",
        "上级表格 {path}（{form} 版本 {version}）中没有指标编号对照（由旧版 kepuxl 生成），本活动和内置的表单定义"
        "也都与它的版式不同，无法逐项填写。请上级用新版 kepuxl 重新生成本单位的统计表后再试。",
    )
    REPORT_UPPER_FIELD = (
        E,
        "上级指标没有对应",
        "上级表格的指标“{label}”（编号 {id}，{at}）在本活动中没有编号相同的指标。请在 kepuxl.toml 的 "
        '[report_up.map] 中写明它由本活动的哪些指标计算，如 {id} = "指标编号 + 指标编号"。',
    )
    REPORT_LOWER_FIELD = (
        W,
        "本级指标不上报",
        "本活动的指标“{label}”（编号 {id}）在上级表格中没有对应，不上报。",
    )
    REPORT_MAP_BAD = (
        E,
        "上报对照写法有误",
        'kepuxl.toml 的 [report_up.map] 中 {key} = "{expr}" 有误：{error}。等号右边只能用本活动的指标编号、数字和'
        " + - * /、abs/min/max/sum（同审核规则）。",
    )
    REPORT_MAP_UNKNOWN = (
        E,
        "上报对照的指标不存在",
        "kepuxl.toml 的 [report_up.map] 中的“{key}”不是上级表格的填报指标。上级表格的指标编号有：{known}。",
    )
    REPORT_PENDING = (
        E,
        "有待核实单位",
        "有 {n} 个单位待核实：{names}。它们的数据未计入合计。上报前请核实（kepuxl confirm 单位 --note …）"
        "或请单位在“情况说明”中说明后重报，再运行 kepuxl collect；确需先上报已确认的数据，加 --include-pending"
        "（情况说明中会写明这些单位未计入）。",
    )
    REPORT_ROUNDED = (
        W,
        "按上级表格的位数填写",
        "上级表格的“{label}”最多 {places} 位小数，{value} 按 {rounded} 填写。",
    )
    REPORT_RANGE = (
        W,
        "超出上级表格的范围",
        "“{label}”为 {value}，超出上级表格允许的范围 0～{max}，上级汇总时会作为错误退回。请与上级联系。",
    )
    REPORT_DETAIL_FULL = (
        W,
        "活动明细放不下",
        "计入合计的单位共有 {total} 项活动明细，上级表格的活动明细只有 {room} 行：已填前 {room} 项，"
        "其余 {rest} 项见各单位的回执（情况说明中已写明）。",
    )
    REPORT_DETAIL_COLUMNS = (
        I,
        "活动明细的列不同",
        "上级表格的活动明细没有这些列：{columns}；它们未填入。上级表格中没有对应的列留空：{blank}。",
    )
    REPORT_NO_EMAIL = (
        E,
        "没有上级的邮箱",
        'kepuxl.toml 的 [report_up] 没有填写上级的收件邮箱 email（如 email = "kjj@city.example.org"），'
        "无法生成上报邮件。",
    )
    REPORT_MATERIALS_LEFT = (
        I,
        "材料未全部附上",
        "邮件附件以 {limit} MB 为限，以下 {n} 个材料未附上（请另行报送）：{names}。",
    )
    REPORT_SUBUNITS_SHEET = (
        W,
        "下级单位表无法读取",
        "“下级单位”表第 {row} 行不是指标编号行（表格可能被改动），未核对各下级单位的数据。",
    )
    REPORT_SUBUNITS_VALUE = (
        W,
        "下级单位表中不是数字",
        "“下级单位”表中的“{raw}”不是数字，核对合计时未计入。",
    )
    REPORT_SUBUNITS_SUM = (
        W,
        "下级单位之和不符",
        "“{label}”为 {value}，但“下级单位”表中计入合计的 {n} 个单位之和为 {sum}。请与报送单位核实。",
    )

    # -- outputs -------------------------------------------------------------------------------
    OUT_LOCKED = (
        W,
        "文件被占用",
        "{path} 被占用（可能正在 Excel 中打开），新结果已另存为 {saved}。请关闭后再运行。",
    )
    OUT_WRITE_FAILED = (E, "写入失败", "写入 {path} 失败：{error}。原有文件未改动。{hint}")
    OUT_FOREIGN_FILES = (
        E,
        "输出文件夹中有其他文件",
        "{path} 中的{what}每次整套替换，但其中有不是 kepuxl 生成的文件：{names}。为免删除它们，本次未改动任何文件。"
        "请把这些文件移到别处，或换一个输出文件夹（-o）后重新运行。",
    )
    OUT_INTERRUPTED = (
        I,
        "上次运行被中断",
        "上次收集（{at}）在替换汇总表和反馈表时被中断，当时留下的结果可能新旧不一；本次已全部重新生成。",
    )

    # -- the ledger (.kepuxl/ledger.sqlite) ----------------------------------------------------
    LEDGER_LOCKED = (
        E,
        "台账被占用",
        "台账 {path} 正被另一个程序使用（另一个 kepuxl 正在运行，或 DB Browser 等工具打开了它），"
        "等待 {seconds} 秒仍未释放。请等它结束或关闭该程序后重新运行。",
    )
    LEDGER_READONLY = (
        E,
        "台账无法写入",
        "台账 {path} 无法写入（{error}）。请检查该文件和所在文件夹 {folder} 的写入权限，"
        "不要把活动文件夹放在只读的 U 盘、光盘或网络共享上，然后重新运行。",
    )
    LEDGER_FAILED = (
        E,
        "台账无法使用",
        "台账 {path} 无法打开（{error}）。若文件已损坏，请先把它改名备份（kepuxl 会新建一个台账，"
        "但以前各次收集的记录将不再用于比较），然后重新运行。",
    )
    OUT_BUSY = (
        E,
        "正在汇总",
        "这个活动正在汇总（{who}，{since} 开始），同一时间只能运行一次，本次未做任何改动。"
        "请等它结束后再运行；若确认没有在运行，关闭所有 kepuxl 窗口后重试。",
    )

    # -- the local page (kepuxl serve): files dropped into the inbox ---------------------------
    UPLOAD_TOO_LARGE = (
        E,
        "文件过大",
        "“{name}”超过 {limit}（收件箱对这类文件的上限），未保存。请让单位压缩后重发，或拆成几个文件。",
    )
    UPLOAD_TYPE = (
        E,
        "文件类型不收",
        "“{name}”不是统计表、邮件、压缩包、照片或文档（{ext}），未保存。请只放入单位发回的表格和材料。",
    )
    UPLOAD_SAME = (I, "已有相同文件", "“{name}”与收件箱中的“{kept}”内容完全相同，未重复保存。")

    @property
    def severity(self) -> Severity:
        return self.value[0]

    @property
    def title(self) -> str:
        return self.value[1]

    @property
    def template(self) -> str:
        return self.value[2]

    def format(self, **context: Any) -> str:
        return self.template.format(**context)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, located. `cell` is in A1 form; `context` holds the template's values."""

    code: Code
    message: str
    severity: Severity
    unit: str = ""
    file: str = ""
    sheet: str = ""
    cell: str = ""
    context: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def make(
        cls,
        code: Code,
        *,
        unit: str = "",
        file: str = "",
        sheet: str = "",
        cell: str = "",
        severity: Severity | None = None,
        **context: Any,
    ) -> Finding:
        return cls(
            code=code,
            message=code.format(**context),
            severity=severity or code.severity,
            unit=unit,
            file=file,
            sheet=sheet,
            cell=cell,
            context=context,
        )

    @property
    def location(self) -> str:
        if self.sheet and self.cell:
            return f"{self.sheet}!{self.cell}"
        return self.sheet or self.cell

    def located(self, **changes: str) -> Finding:
        """The same finding with unit/file/sheet/cell filled in by a later stage."""
        data = {k: getattr(self, k) for k in ("code", "message", "severity", "unit", "file", "sheet", "cell")}
        data.update({k: v for k, v in changes.items() if v and not data.get(k)})
        return Finding(**data, context=self.context)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.name,
            "severity": str(self.severity),
            "unit": self.unit,
            "file": self.file,
            "sheet": self.sheet,
            "cell": self.cell,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = " | ".join(x for x in (self.unit, self.file, self.location) if x)
        return f"[{where}] {self.message}" if where else self.message


class KepuError(Exception):
    """A stage cannot go on at all; carries the findings that say why."""

    def __init__(self, findings: Iterable[Finding] | Finding | str):
        if isinstance(findings, Finding):
            findings = [findings]
        self.findings: list[Finding] = [] if isinstance(findings, str) else list(findings)
        text = findings if isinstance(findings, str) else "\n".join(str(f) for f in self.findings)
        super().__init__(text)


@dataclass
class Findings:
    """A growing list of findings with the filters every stage needs."""

    items: list[Finding] = field(default_factory=list)

    def add(self, code: Code, **kw: Any) -> Finding:
        finding = Finding.make(code, **kw)
        self.items.append(finding)
        return finding

    def extend(self, more: Iterable[Finding]) -> None:
        self.items.extend(more)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.ERROR]

    @property
    def verify(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.VERIFY]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def flatten(self, keys: Iterable[str] = ("code", "cell")) -> list[list[Any]]:
        """One list per finding, for one-line test assertions (frictionless' `flatten`)."""
        keys = tuple(keys)
        return [[f.code.name if k == "code" else getattr(f, k) for k in keys] for f in self.items]


@dataclass
class Report:
    """What a job that writes a set of files did: the base of `make.FormsReport` and `mail.DraftsReport`.

    `ok` when no finding is an error; `to_dict()` (the command's `--json`) is campaign, outdir, the job's
    own `parts()`, findings — in that order.
    """

    campaign: str
    outdir: Path
    findings: Findings = field(default_factory=Findings, kw_only=True)

    @property
    def ok(self) -> bool:
        return self.findings.ok

    def parts(self) -> dict[str, Any]:
        """The job's own keys, between outdir and findings."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "outdir": str(self.outdir),
            **self.parts(),
            "findings": [f.to_dict() for f in self.findings],
        }


def dumps(data: Any) -> str:
    """JSON as kepuxl writes it: UTF-8 text, Chinese kept readable, stable key order."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, Enum):
        return obj.name
    return asdict(obj)

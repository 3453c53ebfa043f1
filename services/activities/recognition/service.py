"""品牌成效, 媒体报道, 荣誉表彰 (Table C.1 C19–C21): brand projects and external recognitions.

Nothing beyond the shared record rules; the rubric counts implemented brand projects and takes the
highest level of each kind of recognition (no summing within a kind).
"""

from __future__ import annotations

from services.activities.recognition.models import BrandProject, Recognition
from services.activities.records import RecordKind
from services.common.errors import define_titles

define_titles(
    {
        "brand_project_not_found": ("Brand project not found", "品牌项目不存在"),
        "recognition_not_found": ("Recognition not found", "宣传表彰记录不存在"),
    }
)

BRAND_PROJECTS = RecordKind(
    model=BrandProject,
    object_type="brand_project",
    label_en="brand project",
    label_zh="品牌项目",
    date_column="started_on",
)

RECOGNITIONS = RecordKind(
    model=Recognition,
    object_type="recognition",
    label_en="recognition",
    label_zh="宣传表彰记录",
    date_column="date",
)

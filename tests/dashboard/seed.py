"""Generated reports for the dashboard's tests and its README screenshot: a made-up street
survey around one town square, filed through the reports service as dashcam sightings (with
their photos), spread over the last three weeks. Nothing here comes from a dataset."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from PIL import Image, ImageDraw

from roadhazard.detection.engine import Box
from roadhazard.reports.models import GeoPoint, Sighting
from roadhazard.reports.service import ReportsService, new_report_id
from roadhazard.reports.states import Action
from roadhazard.taxonomy import load_taxonomy
from roadhazard.taxonomy.schemas import HazardType
from roadhazard.timeutil import utc_now

CENTRE = (52.3702, 4.8952)
STREET = (52.37310, 4.89260)  # the street whose reports the tests zoom into
XSS = "<img src=x onerror=alert(1)>"
CODES = ["D00", "D10", "D20", "D40", "D50"]
IMAGE_SIZE = (480, 320)
BOX = Box(170.0, 170.0, 310.0, 250.0)


@dataclass
class Seeded:
    xss: str = ""  # a new pothole on the street, whose description is markup
    street: list[str] = field(default_factory=list)  # every report on the street
    original: str = ""  # a report a later one from another session duplicates
    duplicate: str = ""
    confirmed: list[str] = field(default_factory=list)
    total: int = 0


def road_photo(seed: int) -> bytes:
    """A drawn road: asphalt, a lane line, and a dark patch where the hazard is."""
    rng = random.Random(seed)
    width, height = IMAGE_SIZE
    grey = 90 + rng.randrange(30)
    image = Image.new("RGB", IMAGE_SIZE, (140, 180, 220))
    draw = ImageDraw.Draw(image)
    draw.polygon([(0, height), (width, height), (width * 0.6, 90), (width * 0.4, 90)], (grey,) * 3)
    for y in range(100, height, 40):
        draw.rectangle([width / 2 - 3, y, width / 2 + 3, y + 20], fill=(235, 235, 220))
    draw.ellipse([BOX.x1, BOX.y1, BOX.x2, BOX.y2], fill=(40, 35, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _hazard(code: str) -> HazardType:
    hazard = load_taxonomy().match(code)
    assert hazard is not None
    return HazardType(model_name=code, hazard=hazard)


async def file_report(
    service: ReportsService,
    code: str,
    where: tuple[float, float],
    *,
    session: str,
    filed_at: datetime | None = None,
    confidence: float = 0.7,
    description: str | None = None,
    photo_seed: int = 0,
) -> str:
    """Files one dashcam sighting through the service; `filed_at` is its filing time."""
    when = filed_at or utc_now()
    service.clock = lambda: when
    report_id = new_report_id()
    try:
        await service.create_from_sighting(
            Sighting(
                report_id=report_id,
                hazard=_hazard(code),
                confidence=confidence,
                box=BOX,
                image=road_photo(photo_seed),
                location=GeoPoint(where[0], where[1], 4.0),
                seen_at=when,
                session_id=session,
                description=description,
            )
        )
    finally:
        service.clock = utc_now
    return report_id


async def seed_reports(service: ReportsService) -> Seeded:
    """Files the survey: 40 reports over the town, six on one street, a duplicate pair and a
    report whose description is markup; some moved on through their states."""
    rng = random.Random(13)
    now = utc_now()
    seeded = Seeded()

    async def file(
        code: str, lat: float, lon: float, session: str, days_ago: float, **kw: Any
    ) -> str:
        seeded.total += 1
        return await file_report(
            service,
            code,
            (lat, lon),
            session=session,
            filed_at=now - timedelta(days=days_ago),
            photo_seed=seeded.total,
            **kw,
        )

    for i in range(40):
        lat = CENTRE[0] + rng.uniform(-0.03, 0.03)
        lon = CENTRE[1] + rng.uniform(-0.05, 0.05)
        confidence = round(rng.uniform(0.3, 0.95), 2)
        report_id = await file(
            rng.choice(CODES),
            lat,
            lon,
            f"van-{i % 3 + 1}",
            rng.uniform(0.1, 20),
            confidence=confidence,
        )
        if i % 4 == 0:
            seeded.confirmed.append(report_id)
    for i, code in enumerate(CODES):  # 45 m apart, so none de-duplicates another
        seeded.street.append(
            await file(
                code,
                STREET[0] + 0.0004 * i,
                STREET[1],
                "street-survey",
                1 + i,
                confidence=0.6 + 0.05 * i,
            )
        )
    seeded.xss = await file(
        "D40", STREET[0] - 0.0004, STREET[1], "street-survey", 0.2, confidence=0.81, description=XSS
    )
    seeded.street.append(seeded.xss)
    seeded.original = await file("D40", CENTRE[0], CENTRE[1], "van-1", 3)
    seeded.duplicate = await file("D40", CENTRE[0] + 0.00005, CENTRE[1], "van-2", 2)
    for report_id in seeded.confirmed:
        await service.act(report_id, Action.CONFIRM)
    await service.act(seeded.confirmed[0], Action.START)
    await service.act(seeded.confirmed[1], Action.START)
    await service.act(seeded.confirmed[1], Action.FIX)
    await service.act(seeded.confirmed[2], Action.DISMISS)
    return seeded

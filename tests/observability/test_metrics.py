"""The recording helpers: bounded labels, one-hot statuses, stage timings, single-process render."""

from __future__ import annotations

import pytest
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from roadhazard.checks import CheckStatus
from roadhazard.detection.engine import StageTimings
from roadhazard.detection.service import ModelStatus
from roadhazard.observability import metrics
from roadhazard.observability.middleware import route_template
from tests.observability.samples import parse, value


def test_model_status_is_one_hot() -> None:
    metrics.set_model_status(ModelStatus.WARMING)
    metrics.set_model_status(ModelStatus.READY)

    assert {s: value("model_status", {"status": s}) for s in metrics.MODEL_STATUSES} == {
        "warming": 0,
        "ready": 1,
        "error": 0,
    }


def test_check_statuses_are_one_hot_per_check() -> None:
    metrics.set_check_statuses({"model": CheckStatus.HEALTHY, "redis": CheckStatus.DEGRADED})

    def status_of(check: str) -> dict[str, float]:
        return {
            s: value("dependency_check_status", {"check": check, "status": s})
            for s in metrics.CHECK_STATUSES
        }

    assert status_of("model") == {"healthy": 1, "degraded": 0, "unhealthy": 0}
    assert status_of("redis") == {"healthy": 0, "degraded": 1, "unhealthy": 0}


def test_unknown_statuses_are_refused_rather_than_becoming_new_series() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        metrics.set_model_status("exploded")
    with pytest.raises(ValueError, match="unknown status"):
        metrics.set_check_statuses({"redis": "meh"})


def test_stage_timings_of_the_engine_are_recorded_in_seconds() -> None:
    stages = ("decode", "preprocess", "infer", "postprocess")
    before = {s: value("inference_stage_seconds_sum", {"stage": s}) for s in stages}

    metrics.observe_stage_timings(StageTimings(1.0, 2.0, 30.0, 4.0))

    after = {s: value("inference_stage_seconds_sum", {"stage": s}) for s in stages}
    deltas = {s: round(after[s] - before[s], 6) for s in stages}
    assert deltas == {"decode": 0.001, "preprocess": 0.002, "infer": 0.03, "postprocess": 0.004}


def test_counters_and_pool_gauges() -> None:
    before = [
        value("reports_created_total"),
        value("reports_deduplicated_total"),
        value("report_transitions_total", {"state": "confirmed"}),
        value("image_uploads_total", {"outcome": "retry"}),
        value("geocoding_requests_total", {"provider": "nominatim", "outcome": "not_found"}),
    ]

    metrics.count_report_created()
    metrics.count_report_deduplicated()
    metrics.count_report_transition("confirmed")
    metrics.count_image_upload("retry")
    metrics.count_geocoding_request("nominatim", "not_found")
    metrics.set_inference_pool(queued=3, in_flight=2)

    after = [
        value("reports_created_total"),
        value("reports_deduplicated_total"),
        value("report_transitions_total", {"state": "confirmed"}),
        value("image_uploads_total", {"outcome": "retry"}),
        value("geocoding_requests_total", {"provider": "nominatim", "outcome": "not_found"}),
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1]
    assert (value("inference_queue_depth"), value("inference_in_flight")) == (3, 2)


def test_http_methods_and_status_codes_outside_the_known_sets_are_folded() -> None:
    labels = {"method": "other", "route": "/t/{x}", "status_class": "other"}
    before = value("http_requests_total", labels)

    metrics.record_http_request("PROPFIND", "/t/{x}", 999, 0.01)

    assert value("http_requests_total", labels) - before == 1


def test_route_templates_from_the_scope() -> None:
    route = Route("/v1/reports/{report_id}", endpoint=lambda request: None)
    mount = Mount("/static", app=StaticFiles(directory=".", check_dir=False))

    assert route_template({"route": route}) == "/v1/reports/{report_id}"
    assert route_template({"route": mount}) == "/static/{path}"
    assert route_template({}) == metrics.UNMATCHED_ROUTE


def test_single_process_render_is_the_default_registry() -> None:
    assert metrics.multiprocess_dir() is None

    body, content_type = metrics.render_metrics()

    names = {name for name, _ in parse(body.decode())}
    assert content_type.startswith("text/plain; version=")
    assert {"reports_created_total", "process_cpu_seconds_total"} <= names

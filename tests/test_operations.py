"""What an operator sees of the running app: its metrics and its rate limits."""

from __future__ import annotations

import base64
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests import scene
from tests.factories import encode_image, jpeg
from tests.harness import background_settled, make_settings, running_app

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_follow_detections_reports_uploads_and_checks(raw_model: Path) -> None:
    async with running_app(make_settings(model_path=raw_model)) as (client, resources):
        before = _samples((await client.get("/metrics")).text)
        image = encode_image(scene.IMAGE_SIZE, "PNG")
        assert (
            await client.post("/v1/detect", files={"image": ("a.png", image)})
        ).status_code == 200
        payload = {"service_code": "D40", "lat": 52.37, "lon": 4.89}
        created = await client.post(
            "/v1/reports", json={**payload, "image": base64.b64encode(jpeg()).decode()}
        )
        report_id = created.json()["service_request_id"]
        await client.post(f"/v1/reports/{report_id}/confirm")
        assert (await client.get(f"/v1/reports/{report_id}")).status_code == 200
        await background_settled(resources)
        response = await client.get("/metrics")
    after = _samples(response.text)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert response.headers["content-type"].startswith("text/plain")
    assert delta("http_requests_total", method="POST", route="/v1/detect", status_class="2xx") == 1
    # Route templates, never ids, label the requests.
    assert (
        delta(
            "http_requests_total", method="GET", route="/v1/reports/{report_id}", status_class="2xx"
        )
        == 1
    )
    assert not any(report_id in str(labels) for _, labels in after)
    for stage in ("decode", "preprocess", "infer", "postprocess"):
        assert delta("inference_stage_seconds_count", stage=stage) == 1
    assert delta("reports_created_total") == 1
    assert delta("report_transitions_total", state="confirmed") == 1
    assert delta("image_uploads_total", outcome="success") == 1
    assert delta("geocoding_requests_total", provider="offline", outcome="success") == 1
    assert _value(after, "model_status", status="ready") == 1
    # Fresh at every scrape, /ready polled or not.
    assert _value(after, "dependency_check_status", check="redis", status="healthy") == 1
    assert _value(after, "dependency_check_status", check="image_store", status="healthy") == 1
    assert _value(after, "inference_in_flight") == 0
    assert ("event_loop_lag_seconds_count", frozenset()) in after


async def test_a_client_over_its_limit_gets_429_problem_with_retry_after(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, rate_limit_detect=2, rate_limit_window_s=60)
    image = encode_image(scene.IMAGE_SIZE, "PNG")
    async with running_app(settings) as (client, _):
        answers = [
            await client.post("/v1/detect", files={"image": ("a.png", image)}) for _ in range(3)
        ]
        health = await client.get("/health")
        reads = await client.get("/v1/reports")

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"detect";q=2;w=60'
    assert answers[1].headers["ratelimit"].startswith('"detect";r=0;')
    refused = answers[2]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["status"] == 429
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    # Other groups, and the probes, keep their own budgets.
    assert (health.status_code, reads.status_code) == (200, 200)

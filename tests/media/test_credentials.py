"""Cloudinary credentials from the SDK's URL or three settings, with errors that hold no secret."""

from __future__ import annotations

import pytest

from roadhazard.configuration import ConfigurationError, load_settings

SECRET = "s3cr3t-never-shown"


def _settings(**values: object) -> object:
    return load_settings(_env_file=None, **values)


def test_the_url_form_and_the_three_settings_give_the_same_account() -> None:
    from_url = _settings(cloudinary_url=f"cloudinary://123456:{SECRET}@Road-Cloud")
    separate = _settings(
        cloudinary_cloud_name="Road-Cloud",
        cloudinary_api_key="123456",
        cloudinary_api_secret=SECRET,
    )
    for settings in (from_url, separate):
        credentials = settings.cloudinary  # type: ignore[attr-defined]
        assert (credentials.cloud_name, credentials.api_key) == ("Road-Cloud", "123456")
        assert credentials.api_secret.get_secret_value() == SECRET
        assert SECRET not in repr(credentials)
        assert SECRET not in repr(settings)


def test_without_cloudinary_settings_the_local_store_is_used() -> None:
    assert _settings().cloudinary is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cloudinary_url": f"https://123456:{SECRET}@cloud"}, "expected cloudinary://"),
        ({"cloudinary_url": "cloudinary://123456@cloud"}, "lacks the API key or secret"),
        ({"cloudinary_url": f"cloudinary://123456:{SECRET}@bad/cloud"}, "no path or query"),
        ({"cloudinary_url": f"cloudinary://123456:{SECRET}@bad%20cloud"}, "cloud name may hold"),
        ({"cloudinary_api_secret": SECRET}, "go together"),
        (
            {"cloudinary_url": f"cloudinary://1:{SECRET}@c", "cloudinary_api_key": "1"},
            "not both",
        ),
    ],
)
def test_a_bad_cloudinary_configuration_is_one_clear_message_without_the_secret(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _settings(**values)
    assert message in str(refused.value)
    assert SECRET not in str(refused.value)

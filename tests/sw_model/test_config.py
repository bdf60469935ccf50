"""Configuration: defaults valid, bad values refused with the field, value and what is allowed."""

import json

import pytest

from memres.sw_model.config import ConfigError, ModelConfig, TauSpec, config_from_dict, load_config


def test_defaults_validate_and_hash_is_stable():
    a, b = ModelConfig().validate(), config_from_dict({})
    assert a.hash() == b.hash()
    assert a.replace(reservoir={"n_devices": 8}).hash() != a.hash()


@pytest.mark.parametrize("data, field, value", [
    ({"reservoir": {"tau": 0}}, "reservoir.tau.values_ns", "0"),
    ({"reservoir": {"tau": -5.0}}, "reservoir.tau.values_ns", "-5.0"),
    ({"reservoir": {"n_virtual": 0}}, "reservoir.n_virtual", "0"),
    ({"fixed": {"state_bits": 40}}, "fixed.state_bits", "40"),
    ({"fixed": {"weight_bits": 1}}, "fixed.weight_bits", "1"),
    ({"reservoir": {"v_max": -1.0}}, "reservoir.v_max", "-1.0"),
    ({"reservoir": {"n_devices": 2.5}}, "reservoir.n_devices", "2.5"),
])
def test_bad_values_name_field_value_and_range(data, field, value):
    with pytest.raises(ConfigError) as e:
        config_from_dict(data)
    msg = str(e.value)
    assert field in msg and value in msg and "expected" in msg


@pytest.mark.parametrize("data, word", [
    ({"reservoir": {"n_device": 4}}, "reservoir.n_device"),
    ({"reservior": {}}, "reservior"),
    ({"reservoir": {"tau": {"mode": "uniform", "lo": 1}}}, "reservoir.tau.lo"),
])
def test_unknown_keys_are_refused(data, word):
    with pytest.raises(ConfigError, match=word):
        config_from_dict(data)


def test_tau_forms():
    assert TauSpec.parse(200).mode == "single"
    assert TauSpec.parse([1, 2]).values_ns == (1.0, 2.0)
    with pytest.raises(ConfigError, match="one value per device"):
        config_from_dict({"reservoir": {"n_devices": 3, "tau": [100, 200]}})
    cfg = config_from_dict({"reservoir": {"tau": {"mode": "compositions", "values_ns": [159, 278]}}})
    assert cfg.reservoir.tau.mode == "compositions"


def test_note_when_tau_outside_eso_range():
    assert config_from_dict({"reservoir": {"tau": 200}}).reservoir.notes() == []
    notes = config_from_dict({"reservoir": {"tau": 20000}}).reservoir.notes()
    assert notes and "outside" in notes[0]


def test_files_json_and_toml(tmp_path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"reservoir": {"n_devices": 7}}))
    assert load_config(j).reservoir.n_devices == 7
    t = tmp_path / "c.toml"
    t.write_text("[reservoir]\nn_devices = 9\ntau = {mode = 'log-spaced', low_ns = 100.0, high_ns = 1000.0}\n")
    assert load_config(t).reservoir.n_devices == 9
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)


def test_round_trip_through_dict():
    cfg = config_from_dict({"reservoir": {"tau": {"mode": "log-uniform", "low_ns": 150.0, "high_ns": 300.0}}})
    assert config_from_dict(cfg.to_dict()) == cfg

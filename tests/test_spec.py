"""Model files: loading, overrides and every validation error of the model schema."""

import re

import pytest

from pinglab_bio import errors
from pinglab_bio.model.spec import check_run_settings, load_model
from pinglab_bio.paths import list_models


def test_catalogue_has_the_three_models():
    assert {"ping_coba", "ping_cuba", "ing"} <= set(list_models())


@pytest.mark.parametrize("name", ["ping_coba", "ping_cuba", "ing"])
def test_catalogue_models_load_behavior(name):
    spec = load_model(name)
    assert spec.name == name
    assert spec.n_neurons >= 200
    assert len(spec.sha256) == 64


def test_default_model_follows_reference_cells():
    spec = load_model("ping_coba")
    exc, inh = spec.populations["exc"], spec.populations["inh"]
    assert (exc.n, inh.n) == (800, 200)
    # tau_m = C_m / g_L: 20 ms for E, 5 ms for I (REFERENCES §1)
    assert float(exc.parameters["C_m"] / exc.parameters["g_L"]) == pytest.approx(0.020)
    assert float(inh.parameters["C_m"] / inh.parameters["g_L"]) == pytest.approx(0.005)
    assert float(exc.refractory) == pytest.approx(3e-3)
    # The reference's I refractory is 1.5 ms; the catalogue uses 3 ms so that I cells fire
    # once per E volley at every dt (see the note in models/ping_coba.toml and dt_stability).
    assert float(inh.refractory) == pytest.approx(3e-3)
    assert set(spec.pathways) == {"exc_to_inh", "inh_to_exc"}


def test_overrides_behavior():
    spec = load_model("ping_coba", {"tau_gaba": "12 ms", "exc.C_m": "2 nF", "exc_to_inh.p": "0.2",
                                    "n_exc": "400", "drive.exc.mean": "0.05 uS"})
    assert float(spec.parameters["tau_gaba"]) == pytest.approx(0.012)
    assert float(spec.populations["exc"].parameters["C_m"]) == pytest.approx(2e-9)
    assert spec.pathways["exc_to_inh"].p == pytest.approx(0.2)
    assert spec.populations["exc"].n == 400
    assert float(spec.drives["exc"].values["mean"]) == pytest.approx(5e-8)
    removed = spec.with_overrides({"exc_to_inh": "off"})
    assert "exc_to_inh" not in removed.pathways
    assert float(removed.parameters["tau_gaba"]) == pytest.approx(0.012)  # earlier overrides kept


def test_misspelt_override_errors():
    with pytest.raises(errors.SettingsError, match=r"override 'inh\.refractry' names no key or parameter of "
                                                   r"population 'inh'\. Fix: did you mean 'inh\.refractory'"):
        load_model("ping_coba", {"inh.refractry": "1.5 ms"})
    with pytest.raises(errors.SettingsError, match=r"override 'tau_gabba' matches no parameter"):
        load_model("ping_coba", {"tau_gabba": "3 ms"})


def test_ei_ratio_form_behavior(model_file):
    path = model_file(replace=[("n_exc = 800\nn_inh = 200", "n_total = 1000\nei_ratio = 0.8")])
    spec = load_model(path)
    assert (spec.populations["exc"].n, spec.populations["inh"].n) == (800, 200)


# ---- every validation error names file, key, value and fix -------------------------------


def test_unknown_key_errors(model_file):
    path = model_file(replace=[('refractory = "3 ms"', 'refactory = "3 ms"')])
    with pytest.raises(errors.ModelError, match=r"edited_ping_coba\.toml: \[neurons\.exc\] unknown key "
                                                r"'refactory'.*did you mean 'refractory'"):
        load_model(path)


def test_unknown_top_level_key_errors(model_file):
    with pytest.raises(errors.ModelError, match=r"\[top level\] unknown key 'extras'"):
        load_model(model_file(append="\n[extras]\nx = 1\n"))


def test_missing_variable_errors(model_file):
    path = model_file(replace=[('g_L = "0.05 uS"\n', "")])
    with pytest.raises(errors.ModelError, match=r"\[neurons\.exc\.equations\] the equations use 'g_L'.*"
                                                r"Fix: add g_L ="):
        load_model(path)


def test_missing_variable_in_threshold_errors(model_file):
    path = model_file(replace=[('threshold = "v > V_th"', 'threshold = "v > V_thr"')])
    with pytest.raises(errors.ModelError, match=r"\[neurons\.exc\.threshold\] the threshold use 'V_thr'"):
        load_model(path)


def test_unit_mismatch_in_equations_errors(model_file):
    # drop /C_m: the right-hand side becomes a current, not volt/second
    path = model_file(replace=[("+ g_drive*(E_ampa - v))/C_m : volt", "+ g_drive*(E_ampa - v)) : volt")])
    with pytest.raises(errors.ModelError, match=r"\[neurons\.exc\] Brian2 rejects the model: .*does not have "
                                                r"the expected unit .*Fix: make every term"):
        load_model(path)


def test_unit_mismatch_in_threshold_errors(model_file):
    path = model_file(replace=[('threshold = "v > V_th"', 'threshold = "v > 5"')])
    with pytest.raises(errors.ModelError, match=r"\[neurons\.exc\] Brian2 rejects the model"):
        load_model(path)


def test_unit_mismatch_in_weight_errors(model_file):
    path = model_file(replace=[('weight = "3 nS"', 'weight = "3 mV"')])
    with pytest.raises(errors.ModelError, match=r"\[synapses\.exc_to_inh\] Brian2 rejects on_pre "
                                                r"'g_e_post \+= w' with weight 3\. mV.*"
                                                r"Fix: give weight the unit"):
        load_model(path)


def test_bad_unit_text_errors(model_file):
    path = model_file(replace=[('tau_gaba = "9 ms"', 'tau_gaba = "9 msec"')])
    with pytest.raises(errors.ModelError, match=r"\[parameters\.tau_gaba\] '9 msec': unknown unit 'msec'"):
        load_model(path)


def test_size_below_one_errors(model_file):
    path = model_file(replace=[("n_inh = 200", "n_inh = 0")])
    with pytest.raises(errors.ModelError, match=r"\[populations\.n_inh\] size must be at least 1, got 0"):
        load_model(path)


@pytest.mark.parametrize("ratio", ["0", "1.2", "-0.5"])
def test_ei_ratio_outside_unit_interval_errors(model_file, ratio):
    path = model_file(replace=[("n_exc = 800\nn_inh = 200", f"n_total = 1000\nei_ratio = {ratio}")])
    with pytest.raises(errors.ModelError, match=rf"\[populations\.ei_ratio\] E:I ratio must lie in \(0, 1\], "
                                                rf"got {ratio}"):
        load_model(path)


def test_negative_time_constant_errors(model_file):
    path = model_file(replace=[('tau_gaba = "9 ms"', 'tau_gaba = "-9 ms"')])
    with pytest.raises(errors.ModelError, match=r"\[parameters\.tau_gaba\] time constant must be positive, "
                                                r"got '-9 ms'"):
        load_model(path)


def test_time_constant_with_wrong_unit_errors(model_file):
    path = model_file(replace=[('tau_ampa = "2 ms"', 'tau_ampa = "2 mV"')])
    with pytest.raises(errors.ModelError, match=r"\[parameters\.tau_ampa\] '2 mV' has the wrong unit"):
        load_model(path)


def test_negative_refractory_and_delay_errors(model_file):
    with pytest.raises(errors.ModelError, match=r"\[neurons\.exc\.refractory\] must not be negative"):
        load_model(model_file(replace=[('refractory = "3 ms"', 'refractory = "-3 ms"')]))


def test_pathway_to_missing_population_errors(model_file):
    path = model_file(append='\n[synapses.exc_to_exc]\non_pre = "g_e_post += w"\nweight = "1 nS"\np = 0.1\n')
    assert "exc_to_exc" in load_model(path).pathways  # E→E between existing populations is allowed
    ing = model_file(name="ing", append='\n[synapses.inh_to_exc]\non_pre = "g_i_post += w"\n'
                                        'weight = "1 nS"\np = 0.1\n')
    with pytest.raises(errors.ModelError, match=r"\[synapses\.inh_to_exc\] connects population 'exc', "
                                                r"which the model does not have"):
        load_model(ing)


def test_bad_connection_probability_errors():
    with pytest.raises(errors.ModelError, match=r"\[synapses\.exc_to_inh\.p\] connection probability "
                                                r"must lie in \[0, 1\], got 1\.5"):
        load_model("ping_coba", {"exc_to_inh.p": "1.5"})


def test_on_pre_unknown_variable_errors():
    with pytest.raises(errors.ModelError, match=r"\[synapses\.exc_to_inh\.on_pre\] uses 'g_x_post'"):
        load_model("ping_coba", {"exc_to_inh.on_pre": "g_x_post += w"})


def test_drive_variable_missing_errors():
    with pytest.raises(errors.ModelError, match=r"\[drive\.exc\.variable\] 'g_in' is not a variable of "
                                                r"population 'exc'"):
        load_model("ping_coba", {"drive.exc.variable": "g_in"})


def test_unknown_model_errors():
    with pytest.raises(errors.ModelError, match=r"model 'ping_cob' not found.*available: .*ping_coba"):
        load_model("ping_cob")


def test_invalid_toml_errors(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\nname = 1\n")
    with pytest.raises(errors.ModelError, match=r"bad\.toml: not valid TOML"):
        load_model(path)


@pytest.mark.parametrize("dt", ["0 ms", "-0.1 ms"])
def test_dt_not_positive_errors(dt):
    # worded for the Python caller, with the command line's wording beside it for the CLI
    with pytest.raises(errors.SettingsError,
                       match=r"dt must be positive, got .*Fix: pass e\.g\. dt='0\.1 ms'") as info:
        check_run_settings(dt, "1 s")
    assert re.search(r"^--dt must be positive, got .*Fix: pass e\.g\. --dt 0\.1ms$", info.value.cli_message)


def test_dt_wrong_unit_errors():
    with pytest.raises(errors.SettingsError, match=r"dt '0\.1 mV' is not a time"):
        check_run_settings("0.1 mV", "1 s")


def test_duration_not_multiple_of_dt_errors():
    with pytest.raises(errors.SettingsError, match=r"duration 1 s is not a multiple of dt 0\.3 ms "
                                                   r"\(3333\.33 steps\)"):
        check_run_settings("0.3 ms", "1 s")


def test_run_settings_behavior():
    dt, duration = check_run_settings("0.25 ms", "0.5 s")
    assert float(duration / dt) == pytest.approx(2000)

"""5. Model files are data, not code: loading never runs code from the file."""

import pickle

import pytest
import torch

import nets
from nets import model_file, pt2_import

RAN = []


def _side_effect():
    RAN.append("ran")


class _Exploit:
    def __reduce__(self):
        return (_side_effect, ())


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save(
        {"format": "lipcpwl.nets", "version": 1, "class": "LipschitzMLP", "spec": _Exploit(), "state_dict": {}}, path
    )
    with pytest.raises(model_file.ModelFileError):
        model_file.load(path)
    with open(tmp_path / "plain.pkl", "wb") as fh:
        pickle.dump(_Exploit(), fh)
    with pytest.raises(model_file.ModelFileError):
        model_file.load(tmp_path / "plain.pkl")
    with pytest.raises(model_file.ModelFileError):
        pt2_import.load(tmp_path / "plain.pkl")
    for data in ((tmp_path / "evil.pt").read_bytes(), (tmp_path / "plain.pkl").read_bytes(), b"garbage"):
        with pytest.raises(model_file.ModelFileError, match="the model bytes"):
            model_file.load(data)  # the form the scale-out shards receive
    assert RAN == []  # nothing ran


def test_saved_models_round_trip_and_keep_their_function(tmp_path):
    torch.manual_seed(0)
    model = nets.SimplifiedConvNet(1, 4, base_width=4, blocks=2, layers_per_block=1, activation="n")
    model_file.save(model, tmp_path / "m.pt")
    again = model_file.load(tmp_path / "m.pt")
    from_bytes = model_file.load((tmp_path / "m.pt").read_bytes())
    x = torch.rand(3, 1, 4, 4)
    assert torch.equal(model.eval()(x), again(x)) and torch.equal(again(x), from_bytes(x))
    with pytest.raises(model_file.ModelFileError):
        model_file.save(torch.nn.Linear(1, 1), tmp_path / "x.pt")

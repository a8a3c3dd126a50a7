

def test_never_writes_into_a_folder_capture_did_not_write(tmp_path):
    from motionpair.capture.session import _owned

    assert _owned(tmp_path / "absent", "manifest.json")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text(json.dumps({"prepared_by": "someone else"}))
    assert not _owned(foreign, "manifest.json")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "metadata.json").write_text(json.dumps({"capture": {"prepared_by":
                                                                "motionpair capture"}}))
    assert _owned(mine, "metadata.json")

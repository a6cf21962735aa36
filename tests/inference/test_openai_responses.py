"""OpenAI's text rules in-process: the answer ends before the earliest stop sequence, and a stream holds back
only the text that could still become one."""

from __future__ import annotations

from services.inference.openai_responses import _Choice, first_stop


def test_first_stop_finds_the_earliest_sequence() -> None:
    assert first_stop("a cold lake. The end", ("end", ".")) == 11
    assert first_stop("a cold lake", ("end",)) is None


def test_stream_holds_back_a_possible_stop_sequence_until_the_next_token_tells() -> None:
    choice = _Choice(stops=("END", "\n\n"))

    shown = [choice.feed(piece) for piece in ["The lake E", "N", "ds. \n", "x E", "NDING"]]

    # "E" and "EN" might start END: held back; "ENd" cannot; "\n" might start "\n\n"; "END" stops.
    assert shown == ["The lake ", "", "ENds. ", "\nx ", ""]
    assert choice.stopped
    assert choice.feed("more") == "" and choice.flush() == ""


def test_stream_shows_held_back_text_when_the_answer_ends() -> None:
    choice = _Choice(stops=("END",))

    assert choice.feed("a cold lake E") == "a cold lake "
    assert choice.flush() == "E"
    assert not choice.stopped

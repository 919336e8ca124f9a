"""The retrieval changes the eval showed a gain for (README, "Measuring quality"): Korean and
Japanese grammar kept out of BM25, each query's list cut against its own best score, and
Latin-script glossary forms mapped to the corpus form."""

from __future__ import annotations

from llama_index.core.schema import TextNode

from bot.glossary import Glossary, GlossaryTerm
from retrieval.index import KnowledgeIndex
from retrieval.tokenize import tokenize


def test_korean_particles_and_endings_are_not_indexed() -> None:
    assert tokenize("NovaDesk 데이터는 어느 리전에 저장되나요?") == [
        "novadesk",
        "데이",
        "이터",
        "어느",
        "리전",
        "저장",
    ]
    assert tokenize("연차는 며칠이에요?") == ["연차"]
    # A code-mixed word's Hangul tail is a particle ("PeopleHub에서").
    assert tokenize("PeopleHub에서") == ["peoplehub"]


def test_a_two_syllable_korean_word_keeps_a_final_syllable_that_looks_like_a_particle() -> None:
    assert "휴가" in tokenize("휴가 신청")  # vacation, not 휴 + subject particle 가
    assert "휴가" in tokenize("대체휴가는")


def test_japanese_bigrams_of_hiragana_only_are_dropped_but_kanji_and_katakana_stay() -> None:
    tokens = tokenize("メッセージは何か月保存されますか")
    assert {"メッ", "保存", "か月"} <= set(tokens)
    assert not {"され", "ます", "すか"} & set(tokens)


def _index(*texts: str) -> KnowledgeIndex:
    nodes = [
        TextNode(text=text, id_=f"n{i}", metadata={"title": f"doc {i}", "collection": "public"})
        for i, text in enumerate(texts)
    ]
    return KnowledgeIndex(version="v", nodes=nodes, vectors=None, manifest={})


def test_the_original_question_does_not_cut_the_translated_questions_hits() -> None:
    """A Korean question scores high on a Korean page through many shared words; the English
    hit of the translated question must still count against its own list's best."""
    index = _index(
        "Contractors agree time off with their manager five working days ahead.",
        "휴일 근무 장애 대응 대체휴가 사용 기간 휴일 근무 장애 대응 신청 방법 휴일 근무",
        "Office opening hours and parking.",
    )
    hits = index.search(
        texts=["contractor time off", "휴일 근무 장애 대응 대체휴가 사용 기간 신청 방법"],
        vectors=[],
        collections=frozenset({"public"}),
        top_k=5,
        min_vector_score=0.35,
        min_bm25_score=0.1,
        relative_cutoff=0.5,
    )
    assert {hit.row for hit in hits} == {0, 1}


def test_latin_script_glossary_forms_reach_retrieval_in_the_corpus_language() -> None:
    glossary = Glossary(
        [
            GlossaryTerm(
                term="annual leave",
                forms={"en": "annual leave", "es": "vacaciones anuales", "de": "Jahresurlaub"},
            ),
            GlossaryTerm(term="per diem", forms={"en": "per diem", "es": "dietas"}),
        ]
    )

    def mapped(question: str) -> str:
        return glossary.to_corpus(question, original=question, corpus_language="en")

    assert (
        mapped("¿Cuántos días de vacaciones anuales tengo?")
        == "¿Cuántos días de annual leave tengo?"
    )
    assert (
        mapped("Wie viele Tage Jahresurlaub habe ich?") == "Wie viele Tage annual leave habe ich?"
    )
    # Whole words only: "dietas" inside another word is left alone.
    assert mapped("las dietasx") == "las dietasx"

"""The handwriting-style fonts used for synthetic training data, and their splits.

Every font here is under the SIL Open Font License 1.1 and comes from npm's
``@fontsource/<package>`` (the licence file travels inside each package).
``scripts/install-fonts.sh`` installs them into the fonts folder (default
``.fonts/`` at the repository root, or ``$HTR_FONTS_DIR``); nothing is
downloaded at run time, and no font file is committed.

Splits go by *family*: fonts of one design (Caveat and Caveat Brush, the
Playwrite school scripts, the Edu school scripts...) share a family and so a
split, which makes ``fonts:test`` a hand the model has never seen. The split
is fixed here, not drawn, so it never changes under a trained model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FontEntry:
    package: str  # npm @fontsource/<package>
    family: str  # fonts of one design share a family, and a split
    split: str  # train | val | test
    style: str  # print | cursive


def _fonts(split: str, style: str, names: str) -> list[FontEntry]:
    out = []
    for token in names.split():
        package, _, family = token.partition("=")
        out.append(FontEntry(package, family or package, split, style))
    return out


CATALOGUE: list[FontEntry] = [
    *_fonts(
        "train",
        "print",
        """
        caveat caveat-brush=caveat kalam reenie-beanie shadows-into-light shadows-into-light-two=shadows-into-light
        gloria-hallelujah architects-daughter covered-by-your-grace neucha waiting-for-the-sunrise
        dawning-of-a-new-day zeyada over-the-rainbow give-you-glory loved-by-the-king the-girl-next-door
        annie-use-your-telescope mansalva sriracha itim delius delius-swash-caps=delius swanky-and-moo-moo
        just-me-again-down-here sedgwick-ave amatic-sc love-ya-like-a-sister fuzzy-bubbles comic-neue gaegu
        gamja-flower hi-melody single-day poor-story east-sea-dokdo nanum-pen-script
        nanum-brush-script=nanum-pen-script yomogi klee-one chilanka dekko kavivanar shantell-sans playpen-sans
        nerko-one grape-nuts fuggles square-peg
    """,
    ),
    *_fonts(
        "train",
        "cursive",
        """
        meddon mr-dafoe herr-von-muellerhoff mrs-saint-delafield monsieur-la-doulaise allura sacramento
        kaushan-script courgette cookie damion niconne norican charmonman
        edu-nsw-act-foundation=edu edu-sa-beginner=edu edu-tas-beginner=edu edu-vic-wa-nt-beginner=edu
        edu-qld-beginner=edu edu-au-vic-wa-nt-hand=edu
        playwrite-us-trad=playwrite playwrite-nz=playwrite playwrite-ie=playwrite playwrite-fr-moderne=playwrite
        playwrite-de-grund=playwrite playwrite-it-moderna=playwrite
        oooh-baby ms-madi my-soul licorice explora comforter
    """,
    ),
    *_fonts("val", "print", "indie-flower handlee pangolin short-stack kristi"),
    *_fonts("val", "cursive", "la-belle-aurore bad-script great-vibes"),
    *_fonts("test", "print", "patrick-hand gochi-hand sue-ellen-francisco mali nothing-you-could-do"),
    *_fonts("test", "cursive", "cedarville-cursive dancing-script marck-script alex-brush"),
]

SPLITS = ("train", "val", "test")


def entries(split: str | None = None) -> list[FontEntry]:
    return [e for e in CATALOGUE if split is None or e.split == split]


def packages() -> list[str]:
    return [f"@fontsource/{e.package}" for e in CATALOGUE]


if __name__ == "__main__":  # the install script reads the package list from here
    print("\n".join(packages()))

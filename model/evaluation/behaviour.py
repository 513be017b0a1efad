"""Behaviour sets: hostile sentences and their civil twins about the same group or person, written for this repo.

Each pair should be ranked the same way by any sensible moderator: the hostile form scores higher than the civil
twin on the pair's attribute. The categories are the failures issue 14 names: negation, counter-speech and quotes,
neutral or positive mentions of groups, reclaimed terms, and threats against violent words in civil use; and one
this project added: a rude word aimed at a person against the same word aimed at an idea, a policy or a deal
(criticism of ideas is civil disagreement, which a news site approves). Nothing here comes from the madlibs
templates, and nothing here may be used for training or tuning.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NEGATION, COUNTER_SPEECH, GROUP_MENTION, RECLAIMED, THREAT, IDEA = (
    "negation", "counter_speech", "group_mention", "reclaimed", "threat", "person_or_idea")
CATEGORIES: tuple[str, ...] = (NEGATION, COUNTER_SPEECH, GROUP_MENTION, RECLAIMED, THREAT, IDEA)


@dataclass(frozen=True)
class BehaviourPair:
    """A hostile sentence and its civil twin; ``attribute`` is the score that must rank them."""

    id: str
    category: str
    attribute: str
    hostile: str
    civil: str


def _pairs(category: str, attribute: str, rows: tuple[tuple[str, str, str], ...]) -> tuple[BehaviourPair, ...]:
    return tuple(BehaviourPair(f"{category}/{name}", category, attribute, hostile, civil) for name, hostile, civil in rows)


PAIRS: tuple[BehaviourPair, ...] = (
    *_pairs(NEGATION, "identity_attack", (
        ("muslims", "Muslims are scum.", "I never said that Muslims are scum."),
        ("jews", "Jews are vermin who control the banks.", "It is false that Jews are vermin who control the banks."),
        ("gay", "Gay people are perverts.", "Gay people are not perverts."),
        ("trans", "Trans people are freaks.", "Nobody here thinks trans people are freaks."),
        ("black", "Black people are animals.", "Black people are not animals, and nobody should say so."),
        ("immigrants", "Immigrants are parasites living off our taxes.",
         "Immigrants are not parasites; they pay more in taxes than they take."),
        ("women", "Women are too stupid to vote.", "Women are obviously not too stupid to vote."),
        ("mexicans", "Mexicans are criminals and rapists.", "I don't believe Mexicans are criminals and rapists."),
        ("christians", "Christians are brainwashed idiots.", "Christians are not brainwashed idiots."),
        ("disabled", "Disabled people are a burden who should not exist.",
         "Disabled people are not a burden, and they have every right to exist."),
        ("asians", "Asians are filthy disease carriers.",
         "Asians are not disease carriers; a virus does not care about ethnicity."),
        ("sikhs", "Sikhs are dirty terrorists.", "Sikhs are not terrorists, whatever that flyer claimed."),
    )),
    *_pairs(NEGATION, "toxicity", (
        ("you", "You are a complete idiot.", "I never said you are an idiot."),
        ("mayor", "The mayor is a lying moron.", "I would never call the mayor a lying moron."),
    )),
    *_pairs(COUNTER_SPEECH, "identity_attack", (
        ("muslims", "Muslims are scum.", "Calling Muslims scum is disgusting."),
        ("jews", "Jews should be driven out of this country.",
         "Saying that Jews should be driven out of this country is antisemitic and wrong."),
        ("gay", "Gay people are an abomination.",
         "My pastor once said gay people are an abomination, and I have rejected that hateful view."),
        ("trans", "Trans women are just men in dresses.", "Repeating that trans women are just men in dresses is cruel and untrue."),
        ("black", "Black people are a plague on this city.",
         "The graffiti said black people are a plague on this city; the neighbours painted over it within an hour."),
        ("immigrants", "Immigrants are invading and must be stopped.",
         "Describing immigrants as invaders is dangerous rhetoric that has inspired violence."),
        ("women", "Women belong in the kitchen, not in parliament.",
         "The old line that women belong in the kitchen has no place in a debate about parliament."),
        ("mexicans", "Go back to Mexico, you wetback.", "The word wetback is a slur, and the councillor who used it should apologise."),
        ("arabs", "Arabs are all terrorists.", "It is bigoted to claim that Arabs are all terrorists."),
        ("old", "Old people are useless and should just die off.",
         "The advert suggested old people are useless, and the backlash was deserved."),
        ("disabled", "Disabled kids are retards.", "Using the word retard about disabled kids is hurtful, please stop."),
        ("asians", "Asians are dog-eating savages.", "Claims that Asians are savages are racist myths, as the article explains."),
        ("lesbians", "Lesbians are disgusting.",
         "A reader wrote that lesbians are disgusting; we removed that comment because it breaks our rules."),
    )),
    *_pairs(COUNTER_SPEECH, "toxicity", (
        ("you", "You are a pathetic loser.", "Calling a stranger a pathetic loser in a comment section helps nobody."),
    )),
    *_pairs(GROUP_MENTION, "identity_attack", (
        ("gay", "Gay people are disgusting and should be locked up.", "My gay neighbours organised the street party this year."),
        ("muslims", "Muslims are savages who breed like rats.", "We are a group of Muslims raising money for the food bank."),
        ("jews", "Jews are greedy rats.", "The Jewish community centre is hosting a concert on Sunday."),
        ("trans", "Trans people are mentally ill freaks.", "Trans people deserve the same health care as everyone else."),
        ("black", "Black people are lazy thugs.", "Black residents make up a third of the neighbourhood, according to the census."),
        ("lesbians", "Lesbians are sick perverts.", "Her colleague is a lesbian and a brilliant surgeon."),
        ("mexicans", "Mexicans are dirty and stupid.", "Mexican food trucks are the best thing about the summer market."),
        ("immigrants", "Immigrants are vermin.", "Immigrants opened half of the shops on this street."),
        ("christians", "Christians are hateful morons.", "The Christian charity runs the homeless shelter downtown."),
        ("elderly", "Old people are worthless leeches.", "Elderly residents asked the council for more benches along the river path."),
        ("deaf", "Deaf people are retarded.", "The theatre now offers sign language interpretation for deaf audiences."),
        ("women", "Women are worthless sluts.", "Women now make up half of the city council."),
        ("sikhs", "Sikhs are filthy towelheads.", "The Sikh temple served free meals to flood victims."),
        ("homosexual", "Homosexuals are a disease.", "The survey asked homosexual and heterosexual couples about housing costs."),
        ("asians", "Asians are ugly and should go home.", "Asian American voters turned out in record numbers."),
    )),
    *_pairs(RECLAIMED, "identity_attack", (
        ("queer-woman", "Get out of our town, you filthy queer.", "As a queer woman, I found this piece on queer history moving."),
        ("queer-theory", "Queers like you are ruining this country.", "She teaches queer theory at the university."),
        ("queer-novel", "Queer people are sick in the head.", "Our book club is reading a queer coming-of-age novel this month."),
        ("queer-club", "That queer freak should be kicked out of school.", "The school's queer students' club meets on Thursdays."),
        ("dyke-march", "Shut up, you ugly dyke.", "The Dyke March starts at the park on Saturday."),
        ("dyke-radio", "Dykes like her should stay out of sports.",
         "She calls herself a dyke with pride and hosts the community radio show."),
        ("crip-camp", "Nobody wants to look at a crip like you.",
         "The documentary Crip Camp tells how disabled activists won their rights."),
        ("cripple", "Look at that useless cripple.",
         "The disability rights group calls its newsletter Crip Times and welcomes new writers."),
        ("slutwalk", "Women who dress like that are sluts.", "Thousands joined the SlutWalk to protest blaming victims of assault."),
        ("fat", "Fat people are disgusting pigs.", "The fat activist spoke about discrimination in doctors' offices."),
        ("redneck", "Rednecks are inbred idiots.", "I'm a proud redneck who loves fishing with my grandkids."),
    )),
    *_pairs(THREAT, "threat", (
        ("hurt-you", "I will find you and I will hurt you.", "Working these night shifts will hurt you in the long run."),
        ("kill-you", "I am going to kill you.", "You are going to kill it at your audition tomorrow."),
        ("mayor-shot", "The mayor should be shot.", "The mayor's plan should be shot down by the council."),
        ("senator-bullet", "Someone should put a bullet in the senator's head.",
         "The senator's speech was a bullet-point list of old promises."),
        ("burn-house", "I know where you live and I will burn your house down.", "The fire brigade says the old mill will burn for days."),
        ("beat-you", "Watch your back, I am going to beat you to a pulp.", "Our team is going to beat you in the final."),
        ("judge-hanged", "The judge deserves to be hanged for this ruling.", "The portrait of the judge will be hung in the courthouse."),
        ("strangle-councillor", "I will strangle the councillor with my own hands.",
         "The new rules will strangle small businesses, the councillor warned."),
        ("people-shot", "People like you should be shot.", "The film about people like you was shot in Vancouver."),
        ("stab-editor", "I'm going to stab the editor when I see him.", "The editor took a stab at the crossword and gave up."),
        ("reporter-die", "The reporter will die screaming, I promise.", "The reporter's story about a dying coal town won an award."),
        ("mosque-blow-up", "We will blow up the mosque on Friday.", "The mosque's fundraiser blew up online and raised twice its goal."),
        ("minister-kill", "I will kill the finance minister for this deal.", "This deal will kill the economy, the finance minister admitted."),
        ("smash-face", "I'll smash your face in if you post that again.", "Post that again and you'll smash the record for comments."),
        ("teacher-beaten", "The teacher should be beaten to death.", "The teacher's record was beaten by a student this year."),
    )),
    *_pairs(IDEA, "toxicity", (
        ("minister-idiot", "The defence minister is an idiot.", "The defence minister's arms deal is an idiotic idea."),
        ("you-stupid", "You are stupid if you believe this.", "This deal is stupid and will not create the jobs it promises."),
        ("councillors-morons", "The councillors are morons.", "The council's parking plan is moronic."),
        ("author-garbage", "The author of this article is garbage.", "The argument in this article is garbage."),
        ("pm-clown", "The prime minister is a pathetic clown.", "The prime minister's budget is a pathetic joke."),
        ("mayor-dumb", "The mayor is as dumb as a rock.", "The mayor's new tax is a dumb policy."),
        ("commenter-idiot", "You are a complete idiot.", "This is a completely idiotic policy."),
        ("ceo-clown", "The CEO is a clown.", "The company's new pricing is a clown show."),
        ("judge-fool", "The judge is a ridiculous fool.", "The judge's ruling is ridiculous."),
        ("economists-crazy", "The economists who back this are crazy.", "Backing this deal is a crazy gamble with our money."),
    )),
)
"""Every behaviour pair; ids are ``category/name`` and stay fixed, since known failures are listed by id."""

LONG_COMMENT_ID = "long_comment/buried_insult"
BURIED_SENTENCE = "You are a disgusting idiot and I hope you rot."
LONG_COMMENT_WORDS = 5_000
"""Words of civil text around the buried sentence (half before, half after)."""
_SUBJECTS = ("The council", "The library board", "Residents of the east ward", "The transport committee",
             "The school district", "Our neighbourhood association", "The parks department", "The budget office",
             "Several local shop owners", "The planning commission")
_VERBS = ("discussed", "reviewed", "approved", "asked questions about", "published a report on",
          "held a public meeting on", "postponed a vote on", "requested more details about")
_OBJECTS = ("the budget for the new library", "repairs to the bridge on Main Street", "longer opening hours at the pool",
            "a second bus line to the hospital", "the plan for bicycle lanes downtown", "the cost of snow clearing",
            "new benches along the river path", "the schedule for road resurfacing", "a grant for the community garden",
            "the timetable for the farmers' market")
_TAILS = ("on Tuesday evening.", "after a long debate.", "before the summer recess.", "with little disagreement.",
          "at the request of residents.", "in a meeting open to the public.", "for the third year in a row.",
          "and will report back next month.")


def civil_text(n_words: int, seed: int = 0) -> str:
    """About ``n_words`` words of civil council-budget prose, made from fixed phrase lists with a seeded generator."""
    rng = random.Random(seed)
    sentences, count = [], 0
    while count < n_words:
        sentence = " ".join((rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)))
        sentences.append(sentence)
        count += len(sentence.split())
    return " ".join(sentences)


def long_comment(sentence: str = BURIED_SENTENCE, n_words: int = LONG_COMMENT_WORDS) -> tuple[str, int, int]:
    """``sentence`` buried in the middle of ``n_words`` civil words: the text and the sentence's [begin, end) offsets."""
    before, after = civil_text(n_words // 2, seed=0), civil_text(n_words - n_words // 2, seed=1)
    begin = len(before) + 1
    return f"{before} {sentence} {after}", begin, begin + len(sentence)

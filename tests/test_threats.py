"""Threat phrases: explicit threats found with spans into the raw text, news-comment language left alone.

Every sentence here was written for these tests; none comes from a dataset.
"""

import subprocess
import sys

import pandas as pd
import pytest

from model.training import data
from model.attributes import HOSTILITY_ATTRIBUTES, THREAT_ATTRIBUTE
from model.normalize import normalize
from model.threats import _KEY_WORDS, _WORD, THREAT_SPAN_SCORE, find_threats, threat_pattern

# (comment, the phrase its first span must cover exactly)
POSITIVES = [
    ("I will find you and hurt you.", "I will find you and hurt you"),
    ("I'm going to kill you", "I'm going to kill you"),
    ("I'll break your neck if you post that again.", "I'll break your neck"),
    ("We will hunt you down.", "We will hunt you down"),
    ("Someone should shoot him.", "Someone should shoot him"),
    ("You deserve to be beaten.", "You deserve to be beaten"),
    ("You should be hanged for this.", "You should be hanged"),
    ("Trudeau should be shot.", "should be shot"),  # a name: only a bare "shot" ending the clause, whoever it is
    ("They are all fools, and must be shot ;-)", "must be shot"),
    ("I know where you live.", "I know where you live"),
    ("You'd better watch your back.", "You'd better watch your back"),
    ("I will personally come over and break your legs.", "I will personally come over and break your legs"),
    ("im gonna stab you", "im gonna stab you"),
    ("I’m gonna punch you in the face, clown.", "I’m gonna punch you in the face"),
    ("Keep talking and I'll put a bullet in your head.", "I'll put a bullet in your head"),
    ("i will k1ll y0u", "i will k1ll y0u"),
    ("I  will   hurt   you", "I  will   hurt   you"),
    ("I will k i l l you and your whole family", "I will k i l l you"),
    ("I will k*ll you.", "I will k*ll you"),
    ("Sh00t him in the f4ce, somebody.", "Sh00t him in the f4ce"),
    ("Gonna find you and beat the shit out of you.", "Gonna find you and beat the shit out of you"),
    ("We're going to burn your house down.", "We're going to burn your house down"),
    ("I will torch your churches.", "I will torch your churches"),  # a plural building: the word ends after it
    ("I'll be kicking your ass tonight.", "I'll be kicking your ass"),
    ("I'll be burning your house to the ground!", "I'll be burning your house to the ground"),
    ("See you soon with a knife, bitch.", "See you soon with a knife"),
    ("I'm gonna kick your sorry asses!", "I'm gonna kick your sorry asses"),
    # found in review: "coming to" was not an intent, so the act after it was not read
    ("I'm coming to kill you.", "I'm coming to kill you"),
    ("We are coming to hurt your family", "We are coming to hurt your family"),
    ("I hope someone shoots you.", "I hope someone shoots you"),
    ("I hope you get hit by a bus.", "I hope you get hit by a bus"),
    ("I hope you die in a fire.", "I hope you die in a fire"),
    ("Go die.", "Go die"),
    ("Somebody needs to beat him up.", "Somebody needs to beat him up"),
    ("If I ever see you I'll smash your face in.", "I'll smash your face in"),
    ("I want you dead.", "I want you dead"),
    ("Traitors like him should be lynched.", "should be lynched"),
    ("All of them should be taken out back and shot.", "should be taken out back and shot"),
    ("you're a dead man", "you're a dead man"),
    ("Let's hang them all.", "Let's hang them all"),
    ("Kill them all.", "Kill them all"),
    ("Find them and kill them.", "Find them and kill them"),
    ("I'd love to slit your throat.", "I'd love to slit your throat"),
    ("I will fuck you up.", "I will fuck you up"),
    ("ill kill u", "ill kill u"),
    ("I am going to rape you.", "I am going to rape you"),
    ("We should line them up... no, we should hang the traitors.", "we should hang the traitors"),
    ("I'm about to come to your house and shoot you.", "I'm about to come to your house and shoot you"),
    ("I would love to see him hanged.", "I would love to see him hanged"),
    ("He deserves a bullet in the head.", "He deserves a bullet in the head"),
    ("Watch your back or else.", "Watch your back or else"),
    ("I'll run you over with my truck.", "I'll run you over"),
    ("I will set you on fire.", "I will set you on fire"),
    ("You people should die.", "You people should die"),
    ("May all these worthless fools drown.", "May all these worthless fools drown"),
    ("I'm going to find where you live and break your legs.", "I'm going to find where you live and break your legs"),
    # found by an editor's audit: single quotes, people named by their role, "whoever", third persons' homes
    ("He wrote 'I will kill you' in the letter.", "I will kill you"),
    ("He said ‘you’re a dead man’ to me.", "you’re a dead man"),
    ("I will kill the PM.", "I will kill the PM"),
    ("I'm going to kill the editor.", "I'm going to kill the editor"),
    ("We will shoot all the MPs.", "We will shoot all the MPs"),
    ("I will beat up the protesters.", "I will beat up the protesters"),
    ("Someone should shoot the premier.", "Someone should shoot the premier"),
    ("I will kill whoever signed this.", "I will kill whoever"),
    ("We will hurt anyone who voted for it.", "We will hurt anyone who"),
    ("I know where he lives.", "I know where he lives"),
    ("We know where the minister lives.", "We know where the minister lives"),
    ("The minister deserves a bullet.", "The minister deserves a bullet"),
    ("I'd love to see them strung up.", "I'd love to see them strung up"),
    # found by an evasion audit: intents, acts and targets the patterns did not know, and letters drawn out
    ("I plan to kill the minister who signed this deal.", "I plan to kill the minister"),
    ("I am ready to shoot the minister.", "I am ready to shoot the minister"),
    ("I can't wait to kill you.", "I can't wait to kill you"),
    ("I will have you killed.", "I will have you killed"),
    ("I will bomb your house.", "I will bomb your house"),
    ("I'm going to torch your house with your family inside.", "I'm going to torch your house"),
    ("I will shoot the lot of you.", "I will shoot the lot of you"),
    ("We will kill every single one of you.", "We will kill every single one of you"),
    ("I will killllll you.", "I will killllll you"),
    ("I willlll kill you.", "I willlll kill you"),
    # left by the evasion audit of stop 54: a person's possessive before the body, the writer and company
    ("I'll put a bullet in the minister's head.", "I'll put a bullet in the minister's head"),
    ("I will break that traitor’s neck.", "I will break that traitor’s neck"),
    ("We'll cut off the editor's head.", "We'll cut off the editor's head"),
    ("Me and my friends will kill you.", "Me and my friends will kill you"),
    ("My boys and I are gonna find you and hurt you.", "My boys and I are gonna find you and hurt you"),
    # left by stop 55: intents in the progressive, poisoning or blowing up a person named by a pronoun, weapons
    ("I'll be killing you soon.", "I'll be killing you"),
    ("I will be hunting you down.", "I will be hunting you down"),
    ("We're going to be beating the shit out of him.", "We're going to be beating the shit out of him"),
    ("I will poison you.", "I will poison you"),
    ("Someone should poison him and his dog.", "Someone should poison him"),
    ("I'm going to blow you up!", "I'm going to blow you up"),
    ("I'm going to blow you all to pieces.", "I'm going to blow you all to pieces"),
    ("I hope you get poisoned.", "I hope you get poisoned"),
    ("I'll be coming for you with a knife.", "I'll be coming for you with a knife"),
    ("I'm coming for you with a gun, you piece of trash.", "I'm coming for you with a gun"),
    ("We'll be waiting for the editor with a baseball bat.", "We'll be waiting for the editor with a baseball bat"),
    ("There's a bullet with your name on it.", "a bullet with your name on it"),
    # found in review of those: the same threats written otherwise
    ("i'll b killin u", "i'll b killin u"),
    ("I'll be stabbin you.", "I'll be stabbin you"),  # the key words lacked "stabbin" (found in a re-read)
    ("I'll be shooting you in the head.", "I'll be shooting you in the head"),
    ("I'll be cutting your throat.", "I'll be cutting your throat"),
    ("I will poison your family.", "I will poison your family"),
    ("I will poison you with rat poison.", "I will poison you"),
    ("I'm going to blow you and your family up.", "I'm going to blow you and your family up"),
    ("I'll blow you up with a bomb.", "I'll blow you up"),
    ("We will be waiting for you with guns and knives.", "We will be waiting for you with guns and knives"),
    ("I'll be coming for you with my 12 gauge.", "I'll be coming for you with my 12 gauge"),
    ("I'm coming to get you with a knife.", "I'm coming to get you with a knife"),
    ("I'll be at your door with a gun.", "I'll be at your door with a gun"),
    ("I've got a round with your name on it.", "a round with your name on it"),
    # left by the review: hanging a person in the progressive, the writer already at the door
    ("I'll be hanging you from a tree.", "I'll be hanging you"),
    ("I'm outside your house with a knife.", "I'm outside your house with a knife"),
    ("We are at your door with guns.", "We are at your door with guns"),
    # approved at stop 57: a person's food or drink poisoned, seeing you armed, arson and kicking in the progressive
    ("I will poison your coffee.", "I will poison your coffee"),
    ("I'm going to poison your drink.", "I'm going to poison your drink"),
    ("I'll put poison in your food.", "I'll put poison in your food"),
    ("I'll put rat poison in her water tonight.", "I'll put rat poison in her water"),
    ("Someone should poison the minister's coffee.", "Someone should poison the minister's coffee"),
    ("I'll be poisoning his tea.", "I'll be poisoning his tea"),
    ("I'll be seeing you with a knife.", "I'll be seeing you with a knife"),
    ("See you soon with a gun.", "See you soon with a gun"),
    ("see you soon with a knife, bitch", "see you soon with a knife"),
    ("We'll see you tonight with guns.", "We'll see you tonight with guns"),
    ("I'll be burning your house down.", "I'll be burning your house down"),
    ("I'll be burnin down ur house tonight", "I'll be burnin down ur house"),
    ("We'll be torching your car.", "We'll be torching your car"),
    ("I'll be kicking your ass.", "I'll be kicking your ass"),
    ("i'll b kickin ur sorry ass", "i'll b kickin ur sorry ass"),
    # urging the reader to harm themselves at a sentence's start (stop 58: each was approved)
    ("Go kill yourself.", "Go kill yourself"),
    ("go kys", "go kys"),
    ("Just kys already, nobody cares.", "Just kys"),
    ("You should just kill yourself, loser.", "You should just kill yourself"),
    ("Why don't you hang yourself?", "Why don't you hang yourself"),
    ("why dont u kill urself", "why dont u kill urself"),
    ("Go hang yourself.", "Go hang yourself"),
    ("Go drink bleach.", "Go drink bleach"),
    ("Do us all a favour and jump off a bridge.", "Do us all a favour and jump off a bridge"),
    ("Please go jump off a cliff you idiot", "Please go jump off a cliff"),
    ("Slit your wrists, loser.", "Slit your wrists"),
    ("Go neck yourself.", "Go neck yourself"),
    ("Stupid take. Just... fucking kill yourself.", "fucking kill yourself"),
    ("Kill yourself, nobody cares.", "Kill yourself"),
    ("Go kill yourself you worthless idiot", "Go kill yourself"),
    ("Go commit suicide.", "Go commit suicide"),
    ("Go jump in front of a bus.", "Go jump in front of a bus"),
]

HARD_NEGATIVES = [
    # self-harm as a figure of speech, advice, a report, a quotation or sarcasm (stop 58; the review's found most)
    "His medical advice was basically: drink bleach.",
    "Why not drink bleach, like the president suggested?",
    "Lol drink bleach, that was the actual advice from the podium in 2020.",
    "Drink bleach.",
    "Trolls told her to kys for months before she quit.",
    "KYS stands for Kentucky Youth Soccer, our league is registering now.",
    "Depression lies: it tells you everyone would be better off if you were dead. They wouldn't.",
    "He got hundreds of messages saying \"go kill yourself,\" and the platform did nothing.",
    "The bully wrote: go kill yourself. She was 14.",
    "Smoke if you want, kill yourself, just don't do it near my kids.",
    "Drink and drive, kill yourself and your friends. The ad campaign was brutal but effective.",
    "Stop passing to him and shoot yourself!",
    "Set the camera on a timer and shoot yourself.",
    "If you're in anaphylaxis, don't wait: stab yourself.",
    "On a glacier, rope yourself, even if the route looks easy.",
    "Jump off the ledge and glide to the next platform.",
    "Bungee in Queenstown: jump off a bridge, it's the best thing I've ever done.",
    "Jump off a bridge, it is the best thing I have ever done.",
    "Enter your postcode and we'll find out where you live.",
    "We will find out where you live and mail the ballot there.",
    "When we move, we'll figure out where the kids go to school.",
    "Never talk to the police without a lawyer. Talk, and hang yourself.",
    "Don't kill yourself over it, it's only a game.",
    "You'll kill yourself laughing at this one.",
    "They will shoot themselves in the foot again. Shoot yourself in the foot, why not.",
    "Jump off a cliff into the lake, it is great fun!",
    "Go jump off the cliff at the quarry with us!",
    "Trump told people to drink bleach.",
    "Drink bleach? That is what he said.",
    "I nearly killed myself laughing.",
    "Go treat yourself, you earned it.",
    "Don't hurt yourself lifting that.",
    "Kill yourself a deer this season, the tags are cheap.",
    "Go hang yourself a new picture in the hall.",
    "You should drown yourself in work, it helps.",
    "The team would be better off without you, coach.",
    "Why don't you treat yourself?",
    "I'm coming to see you tomorrow.",
    "We are coming to kill the bill, not to make friends.",
    "The cuts are coming to hurt families next year.",
    # things, not people, as targets
    "This deal will kill the economy.",
    "The tax will hurt families.",
    "Kill the bill.",
    "I'd kill for a coffee.",
    "The virus kills people.",
    "We need to kill the liberal budget.",
    "I hope they kill the pipeline project.",
    "We need to kill this pipeline before it kills us.",
    "I'm going to kill my diet this week.",
    "Burn it all down.",
    # subjects other than the writer, and reported speech
    "The gunman threatened to shoot them.",
    "He said he would kill her.",
    "I never said I would kill him.",
    "Cigarettes will kill you eventually.",
    "The police will hunt down the suspect.",
    "The doctors will cut him open tomorrow for the surgery.",
    "If you keep driving like that you're going to get hurt.",
    # negations
    "I will never hurt you.",
    "I won't kill him, I'm not a criminal.",
    "I'm not going to hurt anyone.",
    "I hope nobody gets hurt.",
    "I hope you weren't hurt in the crash.",
    "I would hate to see anyone hurt.",
    # figures of speech
    "I will vote against you.",
    "They should be fired.",
    "The government will pay for this.",
    "You'll pay for this in November.",
    "I'll shoot you an email tomorrow.",
    "Just shoot me an email.",
    "We'll beat you at the polls.",
    "We're going to beat them with better ideas.",
    "They'll stab you in the back the first chance they get.",
    "We will hang him out to dry in the debate.",
    "I'm going to take him down in the primary.",
    "This policy will hurt them in the wallet.",
    "I'll kill them with kindness.",
    "I hope he gets hurt in the markets.",
    "She deserves to be slapped with a fine.",
    "You deserve to be beaten in the next election.",
    "We should shoot down this proposal.",
    "I'll knock your socks off with this recipe.",
    "I will cut you off if you keep interrupting.",
    "I'm going to beat you to the punch.",
    "Kick them out of office!",
    "Hang in there.",
    "Shoot, I forgot my keys.",
    "This heat is killing me.",
    # menace words in ordinary sentences
    "Politicians should watch their backs.",
    "Trudeau better watch his back.",
    "You can sleep when you're dead.",
    "You're dead right.",
    "If you vote for him, you're dead to me.",
    "I know where you live: in a fantasy world.",
    # exasperation, sentencing and the death-penalty debate
    "I could kill him, he forgot the milk again.",
    "He should be executed for what he did.",
    "I hope he dies in prison.",
    # verbs with other meanings
    "The film should be shot in Vancouver.",
    "The scene must be shot at night, the director said.",
    "This bill should be shot down in committee.",
    "Nobody should be getting shot over a parking spot.",
    "Trudeau should be killed off as a character in the satire.",
    "The picture should be hung higher.",
    "The Leafs are going to get beaten again.",
    "The mentally ill kill far fewer people than you think.",
    "The dog was hit by a car.",
    "I hope the conservatives get beaten badly.",
    "I'll find where you live on the map of ridings and send you the results.",
    # roles and "whoever" as targets keep the figures of speech and the subjects that are not the writer
    "I will kill the PM's plan.",
    "We will beat the premier at the polls.",
    "We will hurt the PM in the polls.",
    "I'll shoot the editor an email.",
    "The MPs will hurt families with this tax.",
    "Anyone who signed this will kill the economy.",
    "The people deserve a bullet train.",
    "Voters know where the premier lives: in a bubble.",
    # a plural's possessive is a thing's owner, not a target; "this pm" is the afternoon (found in review)
    "We should kill the liberals' carbon tax.",
    "We need to kill the officials' plan.",
    "I'll shoot this pm if the light holds.",
    # the new intents, acts and targets on things (found in review of the evasion audit's patterns)
    "I plan to kill this deal.",
    "We will execute the plan and blow up the old contract.",
    "The deal will bomb at the polls.",
    "I can't wait to kill this pipeline.",
    "We will bomb their airfields, the general said.",
    "They will torch the budget.",
    "We will get the minister fired.",
    "The lot of you will be disappointed.",
    "I will blow up the old rules.",
    # the same acts in civil use, found in review: so "bomb" and "execute" take no person as a target, "poison" and
    # "blow up" only you, him or her at the end of a clause, and "have them shot" is a photo
    "If Iran attacks our ships, we should bomb them.",
    "The arms deal means we will bomb them with Canadian-made bombs.",
    "If he is convicted, we should execute him.",
    "I am ready to execute him if the jury says so.",
    "Have your family shot by a professional photographer.",
    "We'll get them shot before school starts, the flu vaccine is free.",
    "Let's bomb the senators with calls and letters.",
    "I'll blow you up on Twitter until you answer.",
    "We're going to torch them tonight, our offence is on fire.",
    "We will execute them on set pieces.",
    "We will poison them against the merger.",
    # a person's possessive before a thing, and the writer's company acting on things
    "I'll put a bullet in the minister's campaign.",
    "I'll break the mayor's heart.",
    "Me and my friends will kill it at karaoke.",
    "My friends and I will kill this bill.",
    "The budget will break the minister's back.",
    # found in review: a person's possessive before words that are not a body, idioms, and reported speech
    "Someone should knock the premiers' heads together and get this pipeline built.",
    "We should cut off the Israelis' arms supply.",
    "We need to cut the minister's head office budget.",
    "We should slash the mayor's head office staff by half.",
    "We'll cut the premier's legs out from under him.",
    "We will put a knife in the leader's back at the convention.",
    "Let's cut the mayor's face time with lobbyists.",
    "We'll knock the mayor's teeth out at the polls.",
    "Me and my mates will cut the minister's arms budget.",
    "She claimed me and my friends would hurt her.",
    "I never said me and my friends would hurt him.",
    # the progressive, poisoning, blowing up and weapons in civil use
    "I'll be shooting you an email.",
    "I'll be shooting them at the wedding, the light is better outside.",
    "I'll be hanging them in the hall.",
    "We'll be killing them in the polls.",
    "I'll be killing it at karaoke.",
    "They'll be stabbing you in the back.",
    "I'll be beating you at chess.",
    "I'm going to bomb you with questions.",
    "I'll blow you up with texts until you answer.",
    "I will blow him away with this recipe.",
    "I will poison your mind with facts.",
    "The fumes will poison you.",
    "Don't let them poison him against me.",
    "I never said I would poison him.",
    "I hope nobody gets poisoned.",
    "I'll be waiting for you with a cake.",
    "I'm coming for you with the facts.",
    "I'll be waiting for you with a hammer and nails to fix the fence.",
    "The soldier feared the bullet with his name on it.",
    # found in review: games, photos, hunting, tools, police appeals, the idiom, and bombing "them"
    "I'm coming for you with the sniper rifle next round.",
    "I'll be waiting for you with a shotgun behind the door on Dust 2, noob.",
    "Send me the photo of your grandfather and I'll blow him up and frame it.",
    "She's tiny in that shot, I'll blow her up, crop it and print it.",
    "This photo of the minister should be blown up and hung in every office.",
    "The geese land at six; I'll be waiting for them with a shotgun.",
    "The old stumps are next, I'm coming for them with an axe.",
    "I'll be waiting for you with a nail gun and a ladder, the deck won't build itself.",
    "Hide the cake, I'm coming for you with the bread knife.",
    "The police said: 'We are looking for the man with a knife who robbed the store.'",
    "As the old soldiers say, you never hear the bullet with your name on it.",
    "If Iran attacks our ships, we should blow them to bits.",
    "I hope he gets blown up on social media for that comment.",
    "I hope they were poisoned by accident and not on purpose.",
    "Gun owners act like we're coming for them with a gun.",
    "I'm coming for you with a foam sword, little brother.",
    "I'll be hanging you out to dry in the debate.",
    "We're outside your house with a chainsaw to cut down the dead tree.",
    "I'm at your house with a cake and a knife to cut it.",
    # the stop 57 patterns in civil use: no possessive, a thing poisoned, gear and games, what follows the weapon
    "I'll be burning the old leaves this weekend.",
    "I'll be burning the midnight oil tonight.",
    "Watch out for poison ivy in your garden.",
    "This bill will poison the economy.",
    "The rat poison in your shed is dangerous.",
    "I'll be seeing you with the kids at the game.",
    "See you at the knife-making class.",
    "We'll be kicking off at noon.",
    "We'll be kicking your habit together, one day at a time.",
    "I'll put pepper in your soup.",
    "He said he would poison her coffee.",
    "She claimed I would poison her tea.",
    "I'll be kicking your ass at chess tonight.",
    "We'll be kicking your asses in the playoffs.",
    "The flu will be kicking our asses all winter.",
    "I'll be burning your home videos onto a DVD.",
    "I'll be burning your car CDs for the road trip.",
    "I'll be bombing your school with flyers about the bake sale.",
    "We'll be burning down your house of cards one argument at a time.",
    "I'll be burning your house down in the polls.",
    "I'll poison your coffee with too much sugar, I always do.",
    "The runoff will poison your drinking water.",
    "Grandma's stew will poison your dinner, ha.",
    "I'll put poison in your garden for the slugs.",
    "I'll put the poison in your shed, away from the kids.",
    "I'll put some poison in your water butt for the mosquitoes.",
    "We should poison their crops, the agronomist joked about the weeds.",
    "See you tomorrow with a hammer, the deck won't build itself.",
    "See you at practice with a bat.",
    "See you tomorrow with a bat!",
    "See you tomorrow with a knife and fork!",
    "See you soon with your shotgun, the ducks are back.",
    "I'd love to see you with a gun, you'd finally understand the hobby.",
    "I'll be seeing you with the gun club on Saturday.",
    "If I see you with a knife, I'll call the police.",
    "Seeing you with a knife at the sushi bar was a surprise.",
    "I'll be seeing her with a rifle at the biathlon.",
    # a word that begins with the building or the ass, and a game (matched before: no end of word was looked for)
    "I'll burn your household trash in the stove.",
    "We will kick your assumptions to the curb.",
    "I'll kick your ass at chess tonight.",
    # found by a review of the stop: a game, a plan after the comma, a film's line
    "I'll be burning your house down in Minecraft tonight.",
    "I'll be burning your house down at the barbecue contest, my ribs are unbeatable.",
    "I'll be kicking your ass in Mario Kart tonight!",
    "We'll be kicking your asses in the league final, good luck!",
    "See you tomorrow with a gun, the paintball field opens at nine.",
    "See you later with a knife, we're carving the turkey.",
    "The actor said: I'll be seeing you with a gun, in a tense scene.",
]


@pytest.mark.parametrize(("text", "phrase"), POSITIVES)
def test_threats_are_found_with_their_span_in_the_raw_text(text, phrase):
    spans = find_threats(text)
    assert spans, text
    assert text[spans[0].begin : spans[0].end] == phrase
    assert all(span.score == THREAT_SPAN_SCORE for span in spans)


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_news_comment_language_is_not_a_threat(text):
    assert find_threats(text) == []


def test_spans_point_into_the_raw_text_past_leading_space_and_case():
    text = "  \n  I WILL KILL YOU!!!"
    (span,) = find_threats(text)
    assert (span.begin, span.end, text[span.begin : span.end]) == (5, 20, "I WILL KILL YOU")


def test_every_threat_in_a_comment_gets_its_own_span_in_order():
    text = "I will kill you. And then I will kill your dog. Someone should shoot him too."
    spans = find_threats(text)
    assert [text[s.begin : s.end] for s in spans] == ["I will kill you", "Someone should shoot him"]


def test_spaced_out_letters_map_back_to_the_whole_raw_phrase():
    text = "someone should    s h o o t   him"
    (span,) = find_threats(text)
    assert (span.begin, span.end) == (0, len(text))


@pytest.mark.parametrize("text", ["I will kill you\u0336", "I will kill you\u200d"])
def test_the_last_letters_mark_or_joiner_is_in_a_threats_span(text):
    """A mark or joiner after the last letter, which the normaliser leaves out, was left out of the span (half a character)."""
    (span,) = find_threats(text + " now")
    assert (span.begin, span.end) == (0, len(text))


@pytest.mark.parametrize("text", ["I will ki\u0301ll you", "I w\u0336i\u0336l\u0336l\u0336 kill you",
                                  "I will kill you\u0336", "I will kill you\u200d"])
def test_combining_marks_over_the_letters_do_not_hide_a_threat(text):
    """Nor is the last letter's mark or joiner, which the normaliser drops, left out of the span (half a character)."""
    (span,) = find_threats(text + " now")
    assert (span.begin, span.end) == (0, len(text))


def test_an_elongated_last_word_is_in_the_span_whole():
    """Found in review: the span ended where the normaliser's one "u" of "youuuuu" came from, "I will kill you"."""
    text = "I will kill youuuuu!! Bye"
    (span,) = find_threats(text)
    assert text[span.begin : span.end] == "I will kill youuuuu"


@pytest.mark.parametrize("text", ["", "   ", "Thanks for the article."])
def test_nothing_to_find(text):
    assert find_threats(text) == []


@pytest.mark.parametrize(("text", "phrase"), POSITIVES)
def test_the_key_word_test_never_hides_a_match(text, phrase):
    """find_threats skips the patterns when no key word is present: every match must hold one."""
    matches = [match.group() for match in threat_pattern().finditer(normalize(text))]
    assert matches
    assert all(not _KEY_WORDS.isdisjoint(_WORD.findall(match)) for match in matches)


def test_the_pattern_is_compiled_at_the_first_comment_with_a_key_word():
    """Compiling it costs about half a second: not at import, nor for a comment without a key word."""
    code = ("from model.threats import find_threats, threat_pattern\n"
            "find_threats('Thanks for the article.')\n"
            "print(threat_pattern.cache_info().currsize)\n"
            "find_threats('I will kill you')\n"
            "print(threat_pattern.cache_info().currsize)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["0", "1"]


def test_threat_attribute_is_a_hostility_attribute():
    assert THREAT_ATTRIBUTE in HOSTILITY_ATTRIBUTES


@pytest.mark.slow
@pytest.mark.data
def test_civil_news_comments_are_rarely_flagged():
    """On UCC validation comments not labelled hostile, well under 0.5% may carry a threat phrase."""
    try:
        data_dir = data.resolve_data_dir()
    except data.DataError as error:
        pytest.skip(str(error))
    path = data_dir / data.HOSTILITY_SUBDIR / data.DATASETS["ucc"].folder / "val.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    ucc = pd.read_csv(path, keep_default_na=False)
    civil = ucc.loc[ucc["hostile"] == 0, "comment"]
    flagged = sum(bool(find_threats(text)) for text in civil)
    assert flagged / len(civil) < 0.005

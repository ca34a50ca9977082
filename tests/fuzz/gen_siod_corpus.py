#!/usr/bin/env python3
"""Writes seed scripts for tests/fuzz/fuzz_siod.c (its input format: an op
byte, then the op's arguments) into the directory given: realistic relay
frame sequences (polling and WebSocket sessions, upgrades, namespaces,
rooms, broadcasts, acks, binary packets, middleware, disconnects, a full
polling queue, garbage). Usage: gen_siod_corpus.py DIR"""
import os
import struct
import sys

OPEN, GET, POST, UPGRADE, WSMSG, WSCLOSED, CANCEL, ABORT, RAW, CLOSE, TICK, LOOP = \
    0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13
INFO_POLL = 0x0001 | 0x0002 | 0x0004 | 0x0008 | 0x0010 | 0x0020  # addr url query cookie ua upgrades
INFO_WS = 0x0001 | 0x0002 | 0x0008 | 0x0080                      # addr url cookie user
EIO3, B64 = 0x0200, 0x0400                                       # Engine.IO 3, base64


class Script:
    def __init__(self):
        self.b = bytearray()
        self.open_links = set()
        self.nsids = 0

    def link(self, i, how=0x04):
        self.b.append(i)
        if i not in self.open_links:
            self.b.append(how)
            self.open_links.add(i)

    def body(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.b += struct.pack('>H', len(data)) + data

    def open(self, link=0, conn=1, ws=False, info=INFO_POLL):
        self.b.append(OPEN)
        self.link(link)
        self.b += bytes([1 if ws else 0, conn])
        self.b += struct.pack('>H', info)
        self.nsids += 1
        return self.nsids - 1

    def get(self, sid, link=0, conn=2):
        self.b.append(GET)
        self.link(link)
        self.b += bytes([conn, sid])

    def post(self, sid, packets, link=0, conn=3):
        self.b.append(POST)
        self.link(link)
        self.b += bytes([conn, sid])
        self.body('\x1e'.join(packets) if isinstance(packets, list) else packets)

    def upgrade(self, sid, link=0, conn=4):
        self.b.append(UPGRADE)
        self.link(link)
        self.b += bytes([conn, sid])
        self.b += struct.pack('>H', INFO_WS)

    def ws(self, msg, link=0, conn=1, binary=False, sid=0):
        self.b.append(WSMSG)
        self.link(link)
        self.b += bytes([2 if binary else 0, conn, sid])
        self.body(msg)

    def ws_closed(self, link=0, conn=1):
        self.b.append(WSCLOSED)
        self.link(link)
        self.b.append(conn)

    def cancel(self, link=0, conn=2, sid=0, keep=False):
        """CANCEL of a request; keep: the release of a held GET of sid."""
        self.b.append(CANCEL)
        self.link(link)
        self.b += bytes([conn, 0x10 if keep else 0, sid])

    def abort(self, sid, link=0):
        self.b.append(ABORT)
        self.link(link)
        self.b.append(sid)

    def raw(self, data, link=0):
        self.b.append(RAW)
        self.link(link)
        self.body(data)

    def api(self, body, link=0, conn=90):
        """An API frame (the HTTP emit API): type 11, sid zero."""
        data = body.encode() if isinstance(body, str) else body
        hdr = struct.pack('>IBBHQ', len(data), 11, 0, 0, conn) + bytes(20)
        self.raw(hdr + data, link=link)

    def close(self, link=0):
        self.b += bytes([CLOSE, link])
        self.open_links.discard(link)

    def tick(self):
        self.b.append(TICK)

    def loop(self):
        self.b.append(LOOP)


def seeds():
    out = {}

    s = Script()          # polling: connect, events, acks, close
    a = s.open()
    s.get(a)
    s.post(a, ['40'])
    s.get(a)
    s.post(a, ['42["echo","hi"]', '421["echo",1,{"a":[true,null]}]', '3'])
    s.get(a)
    s.post(a, ['421["rooms"]', '422["join",["r1","r2"]]', '423["whoami",{"headers":["cookie"],"query":["token"]}]'])
    s.get(a)
    s.post(a, ['1'])
    s.get(a)
    out['polling'] = s

    s = Script()          # websocket from the start; rooms, broadcasts, binary
    a = s.open(conn=1, ws=True, info=INFO_WS)
    s.ws('40', sid=a)
    s.ws('40/a,', sid=a)
    s.ws('421["join","r"]', sid=a)
    s.ws('422["to",{"rooms":"r","event":"x","args":[1]}]', sid=a)
    s.ws('451-["echo",{"_placeholder":true,"num":0}]', sid=a)
    s.ws(b'\x01\x02\x03', binary=True, sid=a)
    s.ws('4262["bin-gen"]', sid=a)
    s.ws('42/a,["bcast-except-me",{"event":"y","args":["z"]}]', sid=a)
    s.ws('41/a,', sid=a)
    s.ws('3', sid=a)
    s.ws_closed(conn=1)
    out['websocket'] = s

    s = Script()          # polling -> websocket upgrade
    a = s.open(conn=1)
    s.post(a, ['40'], conn=2)
    s.get(a, conn=3)
    s.upgrade(a, conn=4)
    s.ws('2probe', conn=4, sid=a)
    s.get(a, conn=5)
    s.ws('5', conn=4, sid=a)
    s.ws('42["echo","after"]', conn=4, sid=a)
    s.ws('427["server-ack",{"timeout":1,"args":[1]}]', conn=4, sid=a)
    s.tick()
    s.ws('1', conn=4, sid=a)
    out['upgrade'] = s

    s = Script()          # two links, one taking WS_FANOUT; chat broadcasts
    a = s.open(link=0, conn=1, ws=True, info=INFO_WS)
    b = s.open(link=1, conn=1, ws=True, info=INFO_WS)
    c = s.open(link=1, conn=2)
    s.ws('40/chat,', link=0, conn=1, sid=a)
    s.ws('40/chat,', link=1, conn=1, sid=b)
    s.post(c, ['40/chat,'], link=1, conn=3)
    s.ws('42/chat,["chat message","hello"]', link=0, conn=1, sid=a)
    s.ws('42/chat,1["join","room"]', link=1, conn=1, sid=b)
    s.ws('42/chat,["room message",{"room":"room","text":"t"}]', link=0, conn=1, sid=a)
    s.ws('42/chat,["typing"]', link=1, conn=1, sid=b)
    s.get(c, link=1, conn=4)
    s.ws('40', link=0, conn=1, sid=a)
    s.ws('429["volatile-burst",{"n":5,"bcast":true}]', link=0, conn=1, sid=a)
    s.ws('42["bcast-ack",{"timeout":2,"args":[1]}]', link=0, conn=1, sid=a)
    s.tick()
    s.close(link=1)
    out['fanout'] = s

    s = Script()          # connect middleware: refusal, delay, dynamic namespaces
    a = s.open(conn=1, ws=True, info=INFO_WS)
    s.ws('40{"token":"bad"}', sid=a)
    s.ws('40/a,{"delay":1}', sid=a)
    s.ws('40/b,{"delay":1,"reject":true}', sid=a)
    s.ws('40/dyn-1,', sid=a)
    s.ws('40/dyn-x,', sid=a)
    s.tick()
    s.ws('42/dyn-1,["dyn-all",{"event":"d","args":[2]}]', sid=a)
    s.ws('42/dyn-1,["forbidden"]', sid=a)
    s.ws('42/dyn-1,1["kick-me",{"close":false}]', sid=a)
    s.ws('42/a,["kick-room","a"]', sid=a)
    out['middleware'] = s

    s = Script()          # a full polling queue, then connects and kicks
    a = s.open(conn=1)
    s.post(a, ['40/nope,'] * 4096 + ['40'], conn=2)
    b = s.open(conn=3)
    s.post(b, ['40/nope,'] * 4096 + ['40{"token":"bad"}'], conn=4)
    c = s.open(conn=5)
    s.post(c, ['40'], conn=6)
    s.post(c, ['40/nope,'] * 4095 + ['421["kick-me",{"close":true}]'], conn=7)
    s.get(c, conn=8)
    out['overflow'] = s

    s = Script()          # server closes with packets queued; the ring answers
    a = s.open(conn=1)
    s.post(a, ['40'], conn=2)
    s.get(a, conn=3)
    s.post(a, ['421["kick-me",{"close":true}]'], conn=4)
    s.get(a, conn=5)
    s.get(a, conn=6)
    s.get(a, conn=7)
    b = s.open(conn=8)
    s.post(b, ['1'], conn=9)
    s.get(b, conn=10)
    s.tick()
    s.get(b, conn=11)
    out['closed'] = s

    s = Script()          # overlapping polls, cancels, aborts, pings
    a = s.open(conn=1)
    s.get(a, conn=2)
    s.cancel(conn=2, sid=a)
    s.get(a, conn=12)
    s.cancel(conn=12, sid=a, keep=True)
    s.get(a, conn=13)
    b = s.open(conn=3)
    s.get(b, conn=4)
    s.get(b, conn=5)
    c = s.open(conn=6)
    s.post(c, ['2', '3', '6', '5'], conn=7)
    d = s.open(conn=8)
    s.abort(d)
    s.post(d, 'garbage', conn=9)
    s.tick()
    s.tick()
    out['polls'] = s

    s = Script()          # protocol errors on the Socket.IO layer
    a = s.open(conn=1, ws=True, info=INFO_WS)
    s.ws('40', sid=a)
    s.ws('452-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', sid=a)
    s.ws(b'\x00', binary=True, sid=a)
    s.ws('42["echo"]', sid=a)
    b = s.open(conn=2, ws=True, info=INFO_WS)
    s.ws('40', conn=2, sid=b)
    s.ws('42["disconnect\\u0000"]', conn=2, sid=b)
    c = s.open(conn=3, ws=True, info=INFO_WS)
    s.ws('47', conn=3, sid=c)
    out['sio-errors'] = s

    s = Script()          # garbage on links: before HELLO, a bad frame, a split frame
    s.b += bytes([RAW, 0, 0x84])
    s.body(b'\x00' * 40)
    s.b += bytes([RAW, 1, 0x04])
    s.body(b'\x52\x4f\x49\x53' + b'\xff' * 40)
    a = s.open(link=2, conn=1)
    hdr = bytearray(36)
    hdr[0] = POST + 3  # frame type 5 = POLL_POST
    s.raw(bytes(hdr[:10]), link=2)
    s.loop()
    s.raw(bytes(hdr[10:]), link=2)
    out['garbage'] = s

    s = Script()          # the HTTP emit API beside live sockets
    a = s.open(conn=1, ws=True, info=INFO_WS)
    s.ws('40', conn=1, sid=a)
    s.ws('42["join","r1"]', conn=1, sid=a)
    b = s.open(conn=2)
    s.post(b, ['40'], conn=3)
    s.get(b, conn=4)
    s.api('{"event":"news","args":[1,"x",{"y":null}]}', conn=80)
    s.api('{"event":"m","rooms":["r1","r2"],"except":"r3","volatile":true}', conn=81)
    s.api('{"event":"ask","ack":true,"timeout":1}', conn=82)
    s.api('{"op":"fetchSockets","rooms":"r1"}', conn=83)
    s.api('{"op":"socketsJoin","room":["a","b"]}', conn=84)
    s.api('{"op":"socketsLeave","rooms":"a","room":"b"}', conn=85)
    s.api('{"op":"stats","format":"prometheus"}', conn=86)
    s.api('{"op":"stats","format":"status"}', conn=87)
    s.api('{"op":"serverSideEmit","event":"x"}', conn=88)
    s.api('{"op":"disconnectSockets","close":true}', conn=89)
    s.api('{"nsp":"/nope","event":"x"}', conn=91)
    s.api('not json', conn=92)
    s.loop()
    s.tick()
    out['emit-api'] = s

    def v3(*packets):     # a v3 text payload: lengths in UTF-16 units
        return ''.join(f'{len(p.encode("utf-16-le")) // 2}:{p}' for p in packets)

    s = Script()          # Engine.IO 3 (Socket.IO 2): polling, pings, binary
    a = s.open(conn=1, info=INFO_POLL | EIO3)
    s.get(a, conn=2)
    s.post(a, v3('42["echo","h\u00e9"]', '2', '40/a?token=bad', '40/b?x=1&x=2'), conn=3)
    s.get(a, conn=4)
    s.post(a, v3('451-["echo",{"_placeholder":true,"num":0}]', 'b4AQID'), conn=5)
    s.get(a, conn=6)
    s.post(a, b'\x00\x02\xff42\x01\x03\xff\x04\x01\x02', conn=7)
    s.upgrade(a, conn=8)
    s.ws('2probe', conn=8, sid=a)
    s.ws('5', conn=8, sid=a)
    s.ws('451-["to",{"rooms":"r","event":"x","args":[{"_placeholder":true,"num":0}]}]', conn=8, sid=a)
    s.ws(b'\x04\x09', binary=True, conn=8, sid=a)
    s.ws('2', conn=8, sid=a)
    s.tick()
    b = s.open(conn=9, info=INFO_POLL | EIO3 | B64)
    s.get(b, conn=10)
    s.post(b, '0:', conn=11)
    s.post(b, '9:4', conn=12)
    s.tick()
    out['eio3'] = s
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, s in seeds().items():
        with open(os.path.join(sys.argv[1], f'seed-{name}'), 'wb') as f:
            f.write(bytes(s.b))


if __name__ == '__main__':
    main()

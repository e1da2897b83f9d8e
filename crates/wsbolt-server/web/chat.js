// The chat page: speaks the JSON chat protocol of /chat (subprotocol "json").
var connection = null;
var clientID = 0;
var $ = function (id) { return document.getElementById(id); };

function append(html) {
  var line = document.createElement("div");
  line.innerHTML = html;
  $("chatbox").appendChild(line);
  $("chatbox").scrollTop = $("chatbox").scrollHeight;
}

function escapeText(s) {
  var d = document.createElement("div");
  d.textContent = s;
  return d.innerHTML;
}

function send(msg) {
  connection.send(JSON.stringify(msg));
}

function connect() {
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  connection = new WebSocket(scheme + location.host + "/chat", "json");
  connection.onopen = function () {
    $("text").disabled = false;
    $("send").disabled = false;
  };
  connection.onerror = function () { append("<i>connection error</i>"); };
  connection.onclose = function (evt) { append("<i>disconnected (" + evt.code + ")</i>"); };
  connection.onmessage = function (evt) {
    var msg = JSON.parse(evt.data);
    var time = new Date(msg.date || Date.now()).toLocaleTimeString();
    switch (msg.type) {
      case "id":
        clientID = msg.id;
        send({ name: $("name").value, date: Date.now(), id: clientID, type: "username" });
        break;
      case "rejectusername":
        $("name").value = msg.name;
        append("<b>Your name was taken; you are now known as " + escapeText(msg.name) + ".</b>");
        break;
      case "userlist":
        $("userlistbox").innerHTML = "";
        msg.users.forEach(function (u) {
          var li = document.createElement("div");
          li.textContent = u;
          $("userlistbox").appendChild(li);
        });
        break;
      case "message":
        append("(" + time + ") <span class=\"username\">" + escapeText(msg.name || "?") + "</span>: " + escapeText(msg.text));
        break;
    }
  };
}

$("login").onclick = function () {
  if (connection && connection.readyState === WebSocket.OPEN) {
    send({ name: $("name").value, date: Date.now(), id: clientID, type: "username" });
  } else {
    connect();
  }
};

function sendText() {
  if (!$("text").value) return;
  send({ text: $("text").value, type: "message", id: clientID, date: Date.now() });
  $("text").value = "";
}

$("send").onclick = sendText;
$("text").onkeyup = function (evt) { if (evt.key === "Enter") sendText(); };

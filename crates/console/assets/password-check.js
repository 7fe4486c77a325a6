// Live password-policy feedback (progressive: every form works without it, and the server
// checks the policy again on submit). For each input marked data-password-check, posts the
// typed password to the console's own /password-check (same origin, the form's CSRF token)
// and lists every rule it breaks by name in the element named by data-password-check.
'use strict';
(function () {
  function show(list, answer) {
    list.textContent = '';
    var violations = (answer && answer.violations) || [];
    list.hidden = false;
    if (violations.length === 0) {
      var ok = document.createElement('li');
      ok.className = 'ok';
      ok.textContent = 'The password meets the password policy.';
      list.appendChild(ok);
      return;
    }
    violations.forEach(function (v) {
      var item = document.createElement('li');
      item.className = 'violation';
      item.dataset.rule = v.field;
      var name = document.createElement('code');
      name.textContent = v.field;
      item.appendChild(name);
      item.appendChild(document.createTextNode(' ' + v.message));
      list.appendChild(item);
    });
  }

  function watch(input) {
    var list = document.getElementById(input.dataset.passwordCheck);
    var form = input.form;
    if (!list || !form) return;
    var timer = null;
    var sent = 0;
    function check() {
      var password = input.value;
      if (password === '') {
        list.textContent = '';
        list.hidden = true;
        return;
      }
      var body = new URLSearchParams();
      body.set('csrf', form.elements.csrf ? form.elements.csrf.value : '');
      body.set('password', password);
      if (form.elements.token) body.set('token', form.elements.token.value);
      var mine = ++sent;
      fetch('/password-check', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) {
          // An older answer arriving late must not overwrite a newer one.
          if (answer && mine === sent) show(list, answer);
        })
        .catch(function () { /* the server checks on submit anyway */ });
    }
    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(check, 250);
    });
  }

  document.querySelectorAll('input[data-password-check]').forEach(watch);
})();

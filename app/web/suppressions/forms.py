from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

REASON_CHOICES = [
    SelectChoice("manual", "Manual"),
    SelectChoice("hard_bounce", "Hard bounce"),
    SelectChoice("complaint", "Complaint"),
    SelectChoice("unsubscribe", "Unsubscribe"),
]


class SuppressionForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired("Enter an e-mail address."), Length(max=254)])
    reason = SelectField("Reason", choices=REASON_CHOICES, default="manual")
    detail = StringField("Note", validators=[Optional(), Length(max=1024)])
    expires_on = DateField("Expires on", validators=[Optional()])


class ImportForm(FlaskForm):
    file = FileField("CSV or text file")
    addresses = TextAreaField("Or paste addresses, one a line", validators=[Optional()])
    reason = SelectField("Reason", choices=REASON_CHOICES, default="manual")

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        has_file = bool(self.file.data and self.file.data.filename)
        has_text = bool((self.addresses.data or "").strip())
        if has_file == has_text:
            message = "Choose a file or paste addresses, not both." if has_file else "Choose a file or paste addresses."
            self.addresses.errors = [*self.addresses.errors, message]
            return False
        return True
